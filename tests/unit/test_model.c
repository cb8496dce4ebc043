/* test_model.c: the configuration-to-scheduler bridge (src/model/sched_config.c): the
 * scheduler: section over the core's defaults, orders by name (cluster and class), classes,
 * teams, quotas and nodes as the server and the simulator both get them. */
#include <errno.h>
#include <stdlib.h>

#include "common/config.h"
#include "model/sched_config.h"
#include "tap.h"

static gt_config_t *parse(const char *text, gt_error_t *err)
{
    gt_config_t *cfg = NULL;
    memset(err, 0, sizeof(*err));
    errno = 0;
    if (gt_config_parse(text, strlen(text), &cfg, err) < 0)
        return NULL;
    return cfg;
}

static const char *full =
    "nodes:\n"
    "  - name: gpu-[001-016]\n"
    "    gpus: 8\n"
    "    gpu_type: H100-80GB\n"
    "    cpus: 96\n"
    "    memory: 1536Gi\n"
    "    topology: {block: b1, spine: s1, leaf: l1}\n"
    "  - name: cpu\n"
    "    count: 12\n"
    "    cpus: 1500m\n"
    "teams:\n"
    "  - name: research\n"
    "    quota: {gpus: 64, H100-80GB: 32}\n"
    "    limit: {gpus: 128}\n"
    "    weight: 2\n"
    "    children:\n"
    "      - name: vision\n"
    "        quota: {gpus: 12.5}\n"
    "      - name: nlp\n"
    "  - name: prod\n"
    "priority_classes:\n"
    "  - {name: production, value: 1000, preemptible: false}\n"
    "  - {name: batch, value: 50}\n"
    "scheduler:\n"
    "  fairshare: false\n"
    "  fairshare_half_life: 3d\n"
    "  quotas: off\n"
    "  backfill: {enabled: true, reservations: 4}\n"
    "  preemption: {enabled: yes, grace_period: 30s, min_runtime: 1h}\n"
    "  default_priority_class: batch\n";

static void test_params(void)
{
    gt_error_t err;
    gt_config_t *c = parse("", &err);
    sched_params_t p, d = sched_params_default();
    ok(c && model_sched_params(c, &p, &err) == 0, "an empty file gives parameters: %s",
       err.msg);
    ok(p.fairshare == d.fairshare && p.half_life_s == d.half_life_s && p.quotas == d.quotas &&
           p.backfill == d.backfill && p.reservations == d.reservations &&
           p.preemption == d.preemption && p.grace_s == d.grace_s &&
           p.min_runtime_s == d.min_runtime_s && p.order == d.order &&
           p.placement == d.placement,
       "nothing written: sched_params_default()");
    gt_config_free(c);

    c = parse(full, &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "the full example gives parameters");
    ok(!p.fairshare, "fairshare false");
    is_int(p.half_life_s, 3 * 86400, "half life");
    ok(!p.quotas, "quotas off");
    ok(p.backfill, "backfill on");
    is_int(p.reservations, 4, "reservations");
    ok(p.preemption, "preemption on");
    is_int(p.grace_s, 30, "grace period");
    is_int(p.min_runtime_s, 3600, "min runtime");
    gt_config_free(c);

    c = parse("scheduler:\n  backfill: false\n", &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "backfill: false");
    ok(!p.backfill, "backfill off");
    is_int(p.reservations, d.reservations, "reservations keep the default");
    gt_config_free(c);

    c = parse("scheduler:\n  order: fifo\n  placement: bestfit\n", &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "order and placement by name: %s", err.msg);
    is_int(p.order, SCHED_ORDER_FIFO, "order fifo");
    is_int(p.placement, SCHED_PLACE_BESTFIT, "placement bestfit");
    gt_config_free(c);

    c = parse("nodes: []\n\nscheduler:\n  order: shortest\n", &err);
    ok(c != NULL, "an unknown order parses (the scheduler judges it)");
    errno = 0;
    ok(c && model_sched_params(c, &p, &err) == -1, "an unknown order is refused");
    is_int(errno, EINVAL, "errno EINVAL");
    is_str(err.msg, "line 4: scheduler.order: unknown order 'shortest'; write fifo, las or srtf",
           "the message names the line, the key and the choices");
    is_str(err.code, "invalid_config", "code invalid_config");
    gt_config_free(c);

    c = parse("", &err);
    if (c) { /* an override of the driver's (gantry sim --order): no line to name */
        c->sched.order = strdup("xyz");
        ok(model_sched_params(c, &p, &err) == -1, "an unknown order from the command line");
        is_str(err.msg, "scheduler.order: unknown order 'xyz'; write fifo, las or srtf",
               "no line in the message");
        gt_config_free(c);
    }

    /* the reclaim minimum runtime: at most the grace period, or the file is refused */
    c = parse("scheduler:\n  preemption: {grace_period: 120s, min_runtime: 10m, "
              "reclaim_min_runtime: 90s}\n", &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "reclaim_min_runtime 90s: %s", err.msg);
    is_int(p.reclaim_min_runtime_s, 90, "reclaim minimum runtime 90 s");
    is_int(sched_params_reclaim_min_runtime(&p), 90, "in effect: 90 s");
    gt_config_free(c);
    c = parse("scheduler:\n  preemption: {grace_period: 120s, min_runtime: 10m}\n", &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "no reclaim_min_runtime");
    is_int(sched_params_reclaim_min_runtime(&p), 120,
           "not written: the minimum runtime, clamped to the grace period (120 s)");
    gt_config_free(c);
    c = parse("scheduler:\n  preemption:\n    grace_period: 2m\n"
              "    reclaim_min_runtime: 5m\n", &err);
    errno = 0;
    ok(c && model_sched_params(c, &p, &err) == -1, "reclaim_min_runtime above the grace period");
    is_int(errno, EINVAL, "errno EINVAL");
    is_str(err.msg, "line 4: scheduler.preemption.reclaim_min_runtime (300s) is longer than "
                    "grace_period (120s): a team's job within its quota would wait past the "
                    "grace period for the borrowers it reclaims from; write at most 120s "
                    "(min_runtime still guards running jobs against preemption by priority)",
           "the message names the line, both values and what to write");
    gt_config_free(c);

    c = parse("scheduler:\n  placement: roundrobin\n", &err);
    ok(c && model_sched_params(c, &p, &err) == -1, "an unknown placement is refused");
    is_str(err.msg, "line 2: scheduler.placement: unknown placement 'roundrobin'; write bestfit or fgd",
           "the message says what to write");
    gt_config_free(c);
}

static void test_order_params(void)
{
    gt_error_t err;
    sched_params_t p;
    gt_config_t *c = parse("scheduler:\n"
                           "  order: las\n"
                           "  las: {queues: [2h, 20h, 100h], starvation: 12h}\n"
                           "  srtf: {aging: 0.05, unknown: 1h}\n",
                           &err);
    ok(c && model_sched_params(c, &p, &err) == 0, "las and srtf settings: %s", err.msg);
    is_int(p.order, SCHED_ORDER_LAS, "order las");
    is_int(p.las_nqueues, 3, "three thresholds");
    ok(p.las_queues[0] == 7200 && p.las_queues[1] == 72000 && p.las_queues[2] == 360000,
       "thresholds in GPU-seconds");
    is_int(p.las_starvation_s, 12 * 3600, "starvation 12h");
    ok(p.srtf_aging == 0.05, "aging 0.05");
    is_int(p.srtf_unknown_s, 3600, "unknown 1h");
    gt_config_free(c);

    c = parse("scheduler:\n  order: srtf\n", &err);
    sched_params_t d = sched_params_default();
    ok(c && model_sched_params(c, &p, &err) == 0, "order srtf alone");
    ok(p.las_nqueues == d.las_nqueues && p.las_starvation_s == d.las_starvation_s &&
           p.srtf_aging == d.srtf_aging && p.srtf_unknown_s == d.srtf_unknown_s,
       "the rest keeps the defaults");
    gt_config_free(c);

    struct { const char *yaml, *msg; } bad[] = {
        {"scheduler:\n  las: {queues: [10h, 1h]}\n",
         "line 2: scheduler.las.queues[1]: thresholds must rise (each above 0 and above the "
         "one before), such as [1h, 10h]"},
        {"scheduler:\n  las: {queues: 1h}\n",
         "line 2: scheduler.las.queues is a single value; write a list of GPU-time thresholds "
         "such as [1h, 10h]"},
        {"scheduler:\n  las: {queues: [1h,2h,3h,4h,5h,6h,7h,8h,9h]}\n",
         "line 2: scheduler.las.queues: at most 8 thresholds"},
        {"scheduler:\n  srtf: {aging: 2}\n",
         "line 2: scheduler.srtf.aging: '2' is not a rate; write a number from 0.000001 to 1 "
         "such as 0.01 (seconds of remaining time each second of waiting is worth)"},
        {"scheduler:\n  srtf: {speed: 1}\n", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = parse(bad[i].yaml, &err);
        ok(c == NULL, "refused: %s", err.msg);
        if (bad[i].msg)
            is_str(err.msg, bad[i].msg, "the message says what to write");
        gt_config_free(c);
    }
}

static void test_build(void)
{
    gt_error_t err;
    gt_config_t *c = parse(full, &err);
    if (!c)
        return;
    sched_t *s = model_sched_new(c, false, &err);
    ok(s != NULL, "full example builds: %s", err.msg);
    if (!s)
        return;
    ok(!sched_params(s)->fairshare && sched_params(s)->reservations == 4,
       "the scheduler has the file's parameters");
    is_int(sched_node_count(s), 28, "28 nodes in the scheduler");
    is_int(sched_capacity_milli(s), 16 * 8 * 1000, "128 GPUs of capacity: nodes up");
    is_int(sched_class_count(s), 2, "two classes");
    ok(sched_class_find(s, "batch") == 1, "classes in file order");
    is_int(sched_team_count(s), 4, "four teams");
    int vision = sched_team_find(s, "vision"), research = sched_team_find(s, "research");
    ok(vision >= 0 && research >= 0, "teams known");
    is_int(sched_team_parent(s, vision), research, "vision is under research");
    sched_team_info_t ti;
    ok(sched_team_info(s, research, &ti) == 0, "team info");
    is_int(ti.quota_milli, 64000, "research quota in the scheduler");
    is_int(ti.limit_milli, 128000, "research limit in the scheduler");
    ok(ti.weight == 2.0, "research weight");
    ok(sched_gpu_type_find(s, "H100-80GB") >= 0, "GPU type interned");
    sched_node_info_t ni;
    ok(sched_node_info(s, sched_node_find(s, "gpu-007"), &ni) == 0, "node info");
    is_int(ni.gpus, 8, "node gpus");
    is_int(ni.cpus_milli, 96000, "node cpus");
    ok(ni.up, "a node is up (the simulator's)");
    char msg[256];
    ok(sched_check_invariants(s, msg, sizeof(msg)), "invariants hold: %s", msg);
    sched_free(s);

    s = model_sched_new(c, true, &err);
    ok(s != NULL, "builds with nodes down");
    ok(s && sched_node_info(s, 0, &ni) == 0 && !ni.up, "a declared node is down (the server's)");
    is_int(s ? sched_capacity_milli(s) : -1, 0, "no capacity until agents register");
    sched_free(s);
    gt_config_free(c);

    /* A scheduler's own error comes back through err, nothing left behind: a team's parent
     * unknown can't be written in YAML, a class too many can. */
    c = parse("nodes:\n  - {name: a, gpus: 1, gpu_type: T4}\n  - {name: b, gpus: 1, "
              "gpu_type: T4}\n",
              &err);
    ok(c != NULL, "two nodes parse");
    if (c) {
        free(c->nodes[1].name);
        c->nodes[1].name = strdup("a"); /* the parser refuses duplicates; the core too */
        errno = 0;
        s = model_sched_new(c, false, &err);
        ok(s == NULL, "a node added twice fails the build: %s", err.msg);
        is_int(errno, EEXIST, "errno EEXIST");
        gt_config_free(c);
    }

    const char *root = getenv("GANTRY_ROOT");
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/philly-400.yaml", root ? root : ".");
    if (gt_config_load(path, &c, &err) == 0) {
        s = model_sched_new(c, false, &err);
        ok(s != NULL, "philly-400 builds: %s", err.msg);
        is_int(s ? sched_capacity_milli(s) : 0, 400000, "philly-400: 400 GPUs");
        sched_free(s);
        gt_config_free(c);
    } else {
        ok(0, "examples/philly-400.yaml loads: %s", err.msg);
    }
}

/* A class's order: by name, checked, and given to the scheduler. */
static void test_class_order(void)
{
    gt_error_t err;
    gt_config_t *c = parse("scheduler: {default_priority_class: batch}\n"
                           "priority_classes:\n"
                           "  - {name: prod, value: 1000, order: fifo}\n"
                           "  - {name: batch, value: 50}\n",
                           &err);
    ok(c != NULL, "a class with an order parses: %s", err.msg);
    if (c) {
        is_str(c->classes[0].order, "fifo", "the class's order as written");
        ok(c->classes[1].order == NULL, "no order: the cluster's");
        sched_t *s = model_sched_new(c, false, &err);
        ok(s != NULL, "builds: %s", err.msg);
        sched_free(s);
        gt_config_free(c);
    }
    c = parse("scheduler: {default_priority_class: batch}\n"
              "priority_classes:\n"
              "  - {name: prod, value: 1000}\n"
              "  - {name: batch, value: 50,\n"
              "     order: sjf}\n",
              &err);
    ok(c != NULL, "an unknown class order parses");
    if (c) {
        errno = 0;
        ok(model_sched_new(c, false, &err) == NULL, "an unknown class order is refused");
        is_int(errno, EINVAL, "errno EINVAL");
        is_str(err.msg, "line 5: priority class batch: order: unknown order 'sjf'; write fifo, las or "
               "srtf",
               "the message names the line and the class");
        gt_config_free(c);
    }
}

int main(void)
{
    test_params();
    test_order_params();
    test_build();
    test_class_order();
    return tap_done();
}
