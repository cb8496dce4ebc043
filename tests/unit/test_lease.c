/* lease: the timing contract of the node fence (common/lease.h) and the lease file the agent
 * and the supervisors share (agent/fence.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fence.h"
#include "common/lease.h"
#include "tap.h"

/* The promise, written out here rather than taken from lease.c: a node that last heard from
 * the server at time 0 (its own clock) has stopped its jobs, SIGKILL included, by
 * (lease + fence grace) on its clock plus the kill margin; the server starts them elsewhere no
 * earlier than lost_after on its clock, counted from a moment no earlier than 0. With clocks
 * off by up to 1 % each way (the node's slow, the server's fast), the node must still win. */
static bool node_stops_first(const lease_params_t *p)
{
    double rate = 0.01, kill_margin = 1.0;
    double node_done = (p->lease_s + p->fence_grace_s) * (1 + rate) + kill_margin;
    double server_starts = p->lost_after_s * (1 - rate);
    return node_done <= server_starts;
}

static void test_params(void)
{
    lease_params_t p;
    lease_params_for(5, &p);
    ok(p.lease_s > p.heartbeat_s, "heartbeat 5 s: the lease (%.1f s) outlasts a heartbeat",
       p.lease_s);
    ok(p.lease_s >= 2 * p.heartbeat_s, "a node that misses one heartbeat keeps its lease");
    ok(p.fence_grace_s > 0, "a fenced job gets some grace (%.1f s) to checkpoint",
       p.fence_grace_s);
    ok(node_stops_first(&p), "heartbeat 5 s: lease %.1f + grace %.1f, lost after %.3f s: the "
       "node's copy is gone first", p.lease_s, p.fence_grace_s, p.lost_after_s);
    ok(p.lost_after_s > 15, "so the lost-node timeout is longer than 3 heartbeats (%.3f s)",
       p.lost_after_s);
    ok(p.lost_after_s < 17, "but not much (%.3f s)", p.lost_after_s);
    ok(lease_params_safe(&p), "lease_params_safe agrees");

    int bad = 0;
    for (int hb = 1; hb <= 3600; hb++) {
        lease_params_for(hb, &p);
        if (!node_stops_first(&p) || !lease_params_safe(&p) || p.lease_s <= hb)
            bad++;
    }
    is_int(bad, 0, "every heartbeat from 1 s to 1 h gives terms where the node stops first");

    /* The old rule: lost after 3 heartbeats, whatever the node does. */
    lease_params_for(5, &p);
    p.lost_after_s = 3 * p.heartbeat_s;
    ok(!node_stops_first(&p) && !lease_params_safe(&p),
       "lost after 3 heartbeats (15 s) is not safe with a 10 s lease and 5 s of grace");
    lease_params_for(5, &p);
    p.fence_grace_s = 60;
    ok(!lease_params_safe(&p), "nor a fence grace longer than the margin allows");
    lease_params_for(5, &p);
    p.lease_s = p.heartbeat_s;
    ok(!lease_params_safe(&p), "nor a lease no longer than a heartbeat");
}

static void test_file(void)
{
    char dir[] = "/tmp/gantry-lease-XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    fence_lease_t l;
    errno = 0;
    ok(fence_lease_read(dir, &l) == -1 && errno == ENOENT, "no lease yet: ENOENT");
    double t = fence_clock();
    ok(t > 0, "CLOCK_BOOTTIME reads (%.3f)", t);
    fence_lease_t w = {.deadline = t + 10.25, .grace_s = 5, .agent = 42};
    is_int(fence_lease_write(dir, &w, NULL), 0, "a lease is written");
    is_int(fence_lease_read(dir, &l), 0, "and read back");
    ok(l.deadline > t + 10.2499 && l.deadline < t + 10.2501, "deadline kept (%.6f)",
       l.deadline - t);
    ok(l.grace_s == 5, "grace kept");
    is_int(l.agent, 42, "the agent's number kept");
    w.deadline = t + 1;
    is_int(fence_lease_write(dir, &w, NULL), 0, "renewed");
    fence_lease_read(dir, &l);
    ok(l.deadline < t + 1.001, "the renewal replaces it");
    char path[256], tmp[256];
    snprintf(path, sizeof(path), "%s/lease", dir);
    snprintf(tmp, sizeof(tmp), "%s/lease.tmp", dir);
    ok(access(tmp, F_OK) < 0, "no temporary file is left behind");
    FILE *f = fopen(path, "w");
    fputs("deadline=123.0\ngra", f);
    fclose(f);
    errno = 0;
    ok(fence_lease_read(dir, &l) == -1 && errno == EINVAL, "a cut-off lease is refused (EINVAL)");
    unlink(path);
    rmdir(dir);
    errno = 0;
    gt_error_t err = {0};
    ok(fence_lease_write(dir, &w, &err) == -1 && errno == ENOENT,
       "writing into a missing directory fails with ENOENT");
    ok(strstr(err.msg, "cannot write") != NULL, "and says so: %s", err.msg);
}

int main(void)
{
    test_params();
    test_file();
    return tap_done();
}
