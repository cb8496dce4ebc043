/* test_config.c: the YAML configuration parser (src/common/config.c). */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/config.h"
#include "common/envspec.h"
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

/* Parsing must fail with EINVAL and a message containing each of the given fragments. */
static void fails(const char *text, const char *frag1, const char *frag2, const char *what)
{
    gt_error_t err;
    gt_config_t *cfg = parse(text, &err);
    int e = errno;
    ok(cfg == NULL && e == EINVAL, "%s: rejected with EINVAL", what);
    ok(strstr(err.msg, frag1) != NULL && (!frag2 || strstr(err.msg, frag2) != NULL),
       "%s: message '%s' names '%s'%s%s", what, err.msg, frag1, frag2 ? " and " : "",
       frag2 ? frag2 : "");
    gt_config_free(cfg);
}

static const char *full =
    "# a cluster\n"
    "nodes:\n"
    "  - name: gpu-[001-016]\n"
    "    gpus: 8\n"
    "    gpu_type: H100-80GB\n"
    "    cpus: 96\n"
    "    memory: 1536Gi\n"
    "    topology: {block: b1, spine: s1, leaf: l1}\n"
    "    nvlink_groups: 2\n"
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

static void test_full(void)
{
    gt_error_t err;
    gt_config_t *c = parse(full, &err);
    ok(c != NULL, "full example parses: %s", err.msg);
    if (!c)
        return;
    is_int(c->nnodes, 28, "16 from the range + 12 from count");
    is_str(c->nodes[0].name, "gpu-001", "range keeps zero padding");
    is_str(c->nodes[15].name, "gpu-016", "range end");
    is_str(c->nodes[15].gpu_type, "H100-80GB", "gpu_type copied to each node");
    is_int(c->nodes[3].gpus, 8, "gpus");
    is_int(c->nodes[3].cpus_milli, 96000, "cpus in milli");
    is_int(c->nodes[3].memory_mib, 1536 * 1024, "memory in MiB");
    is_str(c->nodes[3].leaf, "l1", "topology leaf");
    is_str(c->nodes[3].block, "b1", "topology block");
    is_int(c->nodes[3].nvlink_groups, 2, "nvlink_groups");
    is_str(c->nodes[16].name, "cpu-01", "count names padded to the digits of count");
    is_str(c->nodes[27].name, "cpu-12", "count end");
    ok(c->nodes[16].gpu_type == NULL && c->nodes[16].gpus == 0, "CPU-only node");
    is_int(c->nodes[16].cpus_milli, 1500, "1500m CPUs");
    ok(c->nodes[16].leaf == NULL, "no topology given");

    is_int(c->nteams, 4, "teams with children flattened");
    is_str(c->teams[0].name, "research", "parent first");
    ok(c->teams[0].parent == NULL, "top-level team has no parent");
    is_str(c->teams[1].name, "vision", "child follows parent");
    is_str(c->teams[1].parent, "research", "child's parent");
    is_str(c->teams[2].parent, "research", "second child's parent");
    is_str(c->teams[3].name, "prod", "next top-level team");
    ok(c->teams[0].weight == 2.0, "weight");
    ok(c->teams[3].weight == 1.0, "default weight 1");
    is_int(c->teams[0].nquotas, 2, "a quota for all types and one for H100");
    ok(c->teams[0].quotas[0].gpu_type == NULL, "gpus key is all types");
    is_int(c->teams[0].quotas[0].quota_milli, 64000, "quota in milli-GPUs");
    is_int(c->teams[0].quotas[0].limit_milli, 128000, "limit merged into the same entry");
    is_str(c->teams[0].quotas[1].gpu_type, "H100-80GB", "typed quota");
    is_int(c->teams[0].quotas[1].quota_milli, 32000, "typed quota amount");
    is_int(c->teams[0].quotas[1].limit_milli, -1, "typed quota without limit");
    is_int(c->teams[1].quotas[0].quota_milli, 12500, "decimal quota");
    is_int(c->teams[2].nquotas, 0, "team without quota");

    is_int(c->nclasses, 2, "classes from the file replace the defaults");
    is_str(c->classes[0].name, "production", "class name");
    is_int(c->classes[0].value, 1000, "class value");
    ok(!c->classes[0].preemptible, "preemptible: false");
    ok(c->classes[1].preemptible, "preemptible by default");
    is_str(c->default_class, "batch", "default_priority_class");

    is_int(c->sched.fairshare, 0, "fairshare false");
    is_int(c->sched.half_life_s, 3 * 86400, "half life");
    is_int(c->sched.quotas, 0, "quotas off");
    is_int(c->sched.backfill, 1, "backfill enabled");
    is_int(c->sched.reservations, 4, "reservations");
    is_int(c->sched.preemption, 1, "preemption enabled");
    is_int(c->sched.grace_s, 30, "grace period");
    is_int(c->sched.min_runtime_s, 3600, "min runtime");
    gt_config_free(c);
}

static void test_defaults(void)
{
    gt_error_t err;
    gt_config_t *c = parse("", &err);
    ok(c != NULL, "an empty file is a valid configuration: %s", err.msg);
    if (!c)
        return;
    is_int(c->nnodes, 0, "no nodes");
    is_int(c->nteams, 0, "no teams");
    is_int(c->nclasses, 3, "three default classes");
    is_str(c->classes[0].name, "production", "production");
    ok(!c->classes[0].preemptible && c->classes[0].value == 1000, "production: 1000, fixed");
    is_str(c->classes[1].name, "normal", "normal");
    ok(c->classes[1].preemptible && c->classes[1].value == 100, "normal: 100, preemptible");
    is_str(c->classes[2].name, "experimental", "experimental");
    is_int(c->classes[2].value, 10, "experimental: 10");
    is_str(c->default_class, "normal", "default class normal");
    /* not written: the scheduler's defaults apply (src/model: test_model.c) */
    ok(c->sched.fairshare == -1 && c->sched.half_life_s == -1 && c->sched.quotas == -1 &&
           c->sched.backfill == -1 && c->sched.reservations == -1 &&
           c->sched.preemption == -1 && c->sched.grace_s == -1 &&
           c->sched.min_runtime_s == -1 && !c->sched.order && !c->sched.placement,
       "no scheduler key is written");
    gt_config_free(c);

    c = parse("scheduler:\n  backfill: false\n  preemption: off\nnodes:\nteams:\n", &err);
    ok(c != NULL, "backfill and preemption as booleans, empty sections: %s", err.msg);
    if (c) {
        ok(c->sched.backfill == 0 && c->sched.preemption == 0, "both disabled");
        is_int(c->sched.reservations, -1, "reservations not written");
    }
    gt_config_free(c);
}

static void test_errors(void)
{
    fails("nodes:\n  - name: a\n    gpu: 8\n", "line 3", "unknown key 'gpu'", "unknown node key");
    fails("nodes:\n  - name: a\n    gpu: 8\n", "gpus", NULL, "unknown key lists valid keys");
    fails("nodez: []\n", "line 1", "nodez", "unknown top-level key");
    fails("scheduler:\n  fairshare_half_life: 7x\n", "line 2",
          "scheduler.fairshare_half_life", "bad duration");
    fails("scheduler:\n  fairshare_half_life: 7x\n", "7d", NULL, "bad duration says what to write");
    fails("scheduler:\n  quotas: maybe\n", "line 2", "true or false", "bad boolean");
    fails("scheduler:\n  backfill: {enabled: true, reservation: 3}\n", "line 2", "reservations",
          "unknown backfill key");
    fails("scheduler:\n  preemption:\n    grace_period: soon\n", "line 3",
          "scheduler.preemption.grace_period", "bad grace period");
    fails("nodes:\n  - name: a\n    gpus: 8\n", "line 3", "gpu_type", "gpus without gpu_type");
    fails("nodes:\n  - name: a\n    gpus: 65\n    gpu_type: X\n", "line 3", "nodes[0].gpus",
          "too many GPUs");
    fails("nodes:\n  - gpus: 8\n    gpu_type: X\n", "line 2", "no name", "node without name");
    fails("nodes:\n  - name: a-[1-4]\n    count: 4\n", "line 3", "not both", "range and count");
    fails("nodes:\n  - name: a-[4-1]\n", "line 2", "ends before", "reversed range");
    fails("nodes:\n  - name: a-[1-x]\n", "line 2", "numbers", "bad range");
    fails("nodes:\n  - name: a-[1-4]\n  - name: a-3\n", "a-3", "declared twice",
          "duplicate node from a range");
    fails("nodes:\n  - name: a\n    memory: lots\n", "line 3", "nodes[0].memory", "bad memory");
    fails("nodes:\n  - name: a\n    cpus: many\n", "line 3", "1500m", "bad cpus");
    fails("nodes:\n  - name: a\n    gpus: 8\n    gpu_type: X\n    nvlink_groups: 3\n", "line 2",
          "divide", "nvlink groups must divide GPUs");
    fails("nodes:\n  - name: a\n    topology: {rack: r1}\n", "line 3", "block, spine, leaf",
          "unknown topology level");
    fails("nodes:\n  - name: a\n    name: b\n", "line 3", "twice", "duplicate key");
    fails("nodes: {name: a}\n", "line 1", "a list", "nodes must be a list");
    fails("teams:\n  - name: a\n    quota: {gpus: 10}\n    limit: {gpus: 5}\n", "team a",
          "above its limit", "quota above limit");
    fails("teams:\n  - name: a\n    quota: {gpus: lots}\n", "line 3", "team a.quota.gpus",
          "bad quota");
    fails("teams:\n  - name: a\n    weight: 0\n", "line 3", "positive", "zero weight");
    fails("teams:\n  - name: a\n  - name: a\n", "line 3", "declared twice", "duplicate team");
    fails("teams:\n  - name: a\n    children:\n      - name: a\n", "line 4", "twice",
          "child with its parent's name");
    fails("teams:\n  - name: a\n    members: 3\n", "line 3", "members", "unknown team key");
    fails("teams:\n  - quota: {gpus: 1}\n", "line 2", "no name", "team without name");
    fails("teams:\n  - name: a\n    quota: {gpus: 1, gpus: 2}\n", "line 3", "twice",
          "duplicate quota key");
    fails("priority_classes:\n  - {name: a, value: high}\n", "line 2", "value",
          "class value not a number");
    fails("priority_classes:\n  - {name: a}\n", "line 2", "no value", "class without value");
    fails("priority_classes:\n  - {name: a, value: 1}\n", "default_priority_class",
          "normal", "no class named normal and no default given");
    fails("priority_classes: []\n", "line 1", "empty", "empty class list");
    fails("scheduler:\n  default_priority_class: urgent\n", "line 2", "urgent",
          "unknown default class");
    fails("nodes: [\n", "not valid YAML", NULL, "YAML syntax error");
    fails("- a\n- b\n", "line 1", "mapping", "top level must be a mapping");
    fails("nodes: []\n---\nteams: []\n", "line 3", "second YAML document", "two documents");
    fails("nodes: &x [*x]\n", "line 1", "nodes[0] is a list", "recursive alias");
    fails("teams: &x [{name: a, children: *x}]\n", "line 1", "twice", "recursive teams");
}

static void test_aliases(void)
{
    /* nested aliases expand exponentially: the walk must stop, not hang */
    const char *bomb = "x0: &a0 {name: n}\n"
                       "x1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n"
                       "x2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n"
                       "x3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\n"
                       "x4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\n"
                       "x5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\n"
                       "x6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]\n"
                       "teams: [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]\n";
    fails(bomb, "line 1", "unknown key 'x0'", "unknown keys stop an alias bomb at once");
    const char *ok_alias = "nodes:\n"
                           "  - &n {name: \"a-[1-2]\", gpus: 4, gpu_type: T4}\n"
                           "  - {name: b-1, gpus: 4, gpu_type: T4}\n";
    gt_error_t err;
    gt_config_t *c = parse(ok_alias, &err);
    ok(c && c->nnodes == 3, "anchors are allowed: %s", err.msg);
    gt_config_free(c);
}

static void test_range(void)
{
    char **v;
    gt_error_t err = {0};
    int n = gt_expand_range("n[1-3,10]x", &v, &err);
    is_int(n, 4, "list of ranges and numbers");
    if (n == 4) {
        is_str(v[0], "n1x", "suffix kept");
        is_str(v[3], "n10x", "single number");
    }
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    n = gt_expand_range("plain", &v, &err);
    ok(n == 1 && !strcmp(v[0], "plain"), "plain name");
    free(v[0]);
    free(v);
    errno = 0;
    ok(gt_expand_range("a[1-2][3-4]", &v, &err) == -1 && errno == EINVAL, "two ranges rejected");
    ok(gt_expand_range("a[1-999999]", &v, &err) == -1 && strstr(err.msg, "more than"),
       "huge range rejected: %s", err.msg);
    ok(gt_expand_range("a[]", &v, &err) == -1, "empty brackets rejected");
    ok(gt_expand_range("a[1,]", &v, &err) == -1, "trailing comma rejected");
    ok(gt_expand_range("a]1[", &v, &err) == -1, "brackets out of order rejected");
}

static void test_load(void)
{
    gt_config_t *c = NULL;
    gt_error_t err = {0};
    errno = 0;
    ok(gt_config_load("/nonexistent/gantry.yaml", &c, &err) == -1 && errno == ENOENT && !c,
       "missing file: ENOENT");
    ok(strstr(err.msg, "/nonexistent/gantry.yaml") != NULL, "message names the file: %s",
       err.msg);
    const char *root = getenv("GANTRY_ROOT");
    char path[1024];
    const char *examples[] = {"examples/cluster.yaml", "examples/philly-400.yaml",
                              "examples/alibaba-openb.yaml"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", root ? root : ".", examples[i]);
        int rc = gt_config_load(path, &c, &err);
        ok(rc == 0, "%s loads: %s", examples[i], rc ? err.msg : "ok");
        if (rc == 0 && i == 1) {
            int64_t quota = 0, gpus = 0;
            for (size_t t = 0; t < c->nteams; t++)
                for (size_t q = 0; q < c->teams[t].nquotas; q++)
                    quota += c->teams[t].quotas[q].quota_milli;
            for (size_t k = 0; k < c->nnodes; k++)
                gpus += c->nodes[k].gpus;
            is_int(c->nnodes, 50, "philly-400: 50 nodes");
            is_int(gpus, 400, "philly-400: 400 GPUs");
            is_int(c->nteams, 15, "philly-400: 15 teams");
            is_int(quota, 400000, "philly-400: quotas sum to the cluster");
        }
        gt_config_free(c);
        c = NULL;
    }
}

static void test_users(void)
{
    gt_error_t err;
    gt_config_t *c = parse("users:\n"
                           "  alice: {unix: alice}\n"
                           "  admin: {unix: root}\n"
                           "  bob.smith:\n"
                           "    unix: b_smith-2\n",
                           &err);
    ok(c && c->nusers == 3, "three users parse: %s", err.msg);
    if (c) {
        is_str(c->users[0].name, "alice", "users keep file order");
        is_str(gt_config_unix_user(c, "admin"), "root", "admin runs as root");
        is_str(gt_config_unix_user(c, "bob.smith"), "b_smith-2", "a mapped name");
        ok(gt_config_unix_user(c, "carol") == NULL, "an unlisted user has no mapping");
        ok(gt_config_unix_user(c, NULL) == NULL, "NULL name: no mapping");
    }
    gt_config_free(c);
    c = parse("users:\n"
              "  alice: {unix: alice, team: research}\n"
              "  ops: {unix: daemon, allow_system_account: true}\n",
              &err);
    ok(c && c->nusers == 2, "users with team and allow_system_account parse: %s", err.msg);
    if (c && c->nusers == 2) {
        is_str(c->users[0].team, "research", "a user's team");
        ok(!c->users[0].allow_system_account, "allow_system_account is false by default");
        ok(c->users[1].team == NULL, "no team: NULL");
        ok(c->users[1].allow_system_account, "allow_system_account: true");
    }
    gt_config_free(c);
    fails("users:\n  ops: {unix: daemon, allow_system_account: maybe}\n", "line 2",
          "users.ops.allow_system_account", "allow_system_account must be a boolean");
    c = parse("users:\n", &err);
    ok(c && c->nusers == 0, "an empty users: section is none");
    gt_config_free(c);
    ok(gt_config_unix_user(NULL, "alice") == NULL, "no configuration: no mapping");
    fails("users: [alice]\n", "line 1", "users is a list", "users as a list");
    fails("users:\n  alice: alice\n", "line 2", "users.alice is a single value",
          "a user without a mapping");
    fails("users:\n  alice: {}\n", "line 2", "users.alice has no unix key", "no unix key");
    fails("users:\n  alice: {unix: alice, uid: 5}\n", "line 2", "unknown key 'uid'",
          "an unknown key under a user");
    fails("users:\n  alice: {unix: \"ali ce\"}\n", "line 2", "not a Unix account name",
          "a space in the account");
    fails("users:\n  alice: {unix: -alice}\n", "line 2", "not a Unix account name",
          "an account starting with -");
    fails("users:\n  alice: {unix: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n", "line 2",
          "not a Unix account name", "an account over 32 bytes");
    fails("users:\n  alice: {unix: ''}\n", "line 2", "users.alice.unix is empty",
          "an empty account");
    fails("users:\n  alice: {unix: a}\n  alice: {unix: b}\n", "line 3",
          "users.alice is given twice", "a user given twice");
    fails("users:\n  alice: {unix: a, unix: b}\n", "line 2", "given twice",
          "unix given twice");
    fails("users: {alice: {unix: a}}\nusers: {bob: {unix: b}}\n", "line 2", "given twice",
          "the users section twice");
    fails("userz: {}\n", "line 1", "users", "the unknown-key message lists users");
}

/* volumes: and environments: (docs/environments.md). */
static void test_volumes(void)
{
    gt_error_t err;
    gt_config_t *cfg = parse(
        "volumes:\n"
        "  - {name: datasets, path: /mnt/datasets/, teams: [\"*\"], access: ro, kind: dataset}\n"
        "  - name: research\n"
        "    path: /mnt//research\n"
        "    teams: [research, vision]\n"
        "  - {name: outputs, path: /mnt/outputs, kind: output}\n"
        "environments:\n"
        "  - name: pytorch-2.4\n"
        "    image: docker://pytorch/pytorch:2.4\n"
        "    env: {NCCL_DEBUG: INFO, SEED: 7}\n"
        "    mounts: [{volume: datasets, sub_path: imagenet, path: /data, read_only: yes}]\n"
        "    teams: [research]\n"
        "  - {name: bare}\n",
        &err);
    ok(cfg != NULL, "volumes and environments parse: %s", err.msg);
    if (!cfg)
        return;
    is_int(json_array_size(cfg->volumes), 3, "three volumes, in file order");
    json_t *v0 = json_array_get(cfg->volumes, 0), *v1 = json_array_get(cfg->volumes, 1),
           *v2 = json_array_get(cfg->volumes, 2);
    is_str(json_string_value(json_object_get(v0, "path")), "/mnt/datasets",
           "a volume's path without its trailing /");
    is_str(json_string_value(json_object_get(v0, "access")), "ro", "access ro");
    is_str(json_string_value(json_object_get(v0, "kind")), "dataset", "kind");
    is_str(json_string_value(json_object_get(v1, "path")), "/mnt/research", "'//' folded");
    is_int(json_array_size(json_object_get(v1, "teams")), 2, "two teams");
    is_str(json_string_value(json_object_get(v1, "access")), "rw", "access defaults to rw");
    ok(json_object_get(v1, "kind") == NULL, "no kind unless given");
    is_str(json_string_value(json_array_get(json_object_get(v2, "teams"), 0)), "*",
           "teams default to every team");
    json_t *e0 = json_array_get(cfg->environments, 0), *e1 = json_array_get(cfg->environments, 1);
    is_str(json_string_value(json_object_get(e0, "image")), "docker://pytorch/pytorch:2.4",
           "an environment's image");
    is_str(json_string_value(json_object_get(json_object_get(e0, "env"), "SEED")), "7",
           "its env values are strings (7 read as \"7\")");
    ok(json_is_true(json_object_get(json_array_get(json_object_get(e0, "mounts"), 0),
                                    "read_only")),
       "its mount's read_only: yes is true");
    ok(json_object_get(e1, "image") == NULL && json_array_size(json_object_get(e1, "mounts")) ==
                                                   0,
       "a stack may have no image and no mounts");
    gt_config_free(cfg);

    cfg = parse("image_paths: [/srv/images/, //opt//layouts]\n", &err);
    ok(cfg != NULL, "image_paths parse: %s", err.msg);
    if (cfg) {
        is_int(json_array_size(cfg->image_paths), 2, "two image paths");
        is_str(json_string_value(json_array_get(cfg->image_paths, 1)), "/opt/layouts",
               "normalized");
        char b[256];
        ok(gt_image_local_path("oci:/opt/layouts/x:tag", b, sizeof(b)) && !strcmp(b, "/opt/layouts/x"),
           "oci:/opt/layouts/x:tag reads /opt/layouts/x (%s)", b);
        ok(gt_image_local_path("oci:/opt/lay:outs/x", b, sizeof(b)) && !strcmp(b, "/opt/lay:outs/x"),
           "a ':' before the last '/' is not a tag (%s)", b);
        ok(gt_image_local_path("docker-archive:/a/b.tar", b, sizeof(b)) && !strcmp(b, "/a/b.tar"),
           "docker-archive:/a/b.tar reads /a/b.tar");
        ok(!gt_image_local_path("docker://reg/a:1", b, sizeof(b)), "docker:// reads no node path");
        ok(gt_path_beneath_any("/opt/layouts", cfg->image_paths), "a prefix itself is admitted");
        ok(gt_path_beneath_any("/srv/images/a/b", cfg->image_paths), "a path beneath one too");
        ok(!gt_path_beneath_any("/srv/images2/a", cfg->image_paths),
           "/srv/images2 is not beneath /srv/images");
        ok(!gt_path_beneath_any("/srv", cfg->image_paths), "nor is /srv");
        gt_config_free(cfg);
    }
    cfg = parse("teams: []\n", &err);
    ok(cfg && cfg->image_paths == NULL, "no image_paths: NULL (anywhere)");
    gt_config_free(cfg);
    fails("image_paths: [relative]\n", "image_paths[0] must be an absolute", NULL,
          "a relative image path");
    fails("image_paths: [/a/../b]\n", "without '..'", NULL, "an image path with ..");
    fails("image_paths: /srv\n", "image_paths must be a list", NULL, "image_paths not a list");

    fails("volumes:\n  - {name: a, path: relative}\n", "line 2", "path must be an absolute",
          "a relative volume path");
    fails("volumes:\n  - {name: a, path: /}\n", "volume 'a'", "other than /", "a volume at /");
    fails("volumes:\n  - {name: a, path: /x/../etc}\n", "without '..'", NULL,
          "a volume path with ..");
    fails("volumes:\n  - {name: a, path: /x, access: rx}\n", "access must be ro", NULL,
          "an unknown access");
    fails("volumes:\n  - {name: a, path: /x, kind: tmp}\n", "kind must be dataset", NULL,
          "an unknown kind");
    fails("volumes:\n  - {name: a, path: /x, size: 1}\n", "unknown field 'size'", NULL,
          "an unknown volume key");
    fails("volumes:\n  - {name: a b, path: /x}\n", "name must be 1 to 63", NULL,
          "a volume name with a space");
    fails("volumes:\n  - {name: a, path: /x}\n  - {name: a, path: /y}\n", "line 3",
          "'a' is given twice", "a volume given twice");
    fails("volumes:\n  - {name: a, path: /x, teams: []}\n", "teams must be a list", NULL,
          "an empty teams list");
    fails("volumes: {a: /x}\n", "volumes is a mapping", NULL, "volumes as a mapping");
    fails("environments:\n  - {name: e, image: ubuntu}\n", "environment 'e'",
          "has no transport", "a stack's image without a transport");
    fails("environments:\n  - {name: e, mounts: [{volume: nope, path: /d}]}\n",
          "mounts volume 'nope'", "does not define", "a stack mounting an unknown volume");
    fails("volumes:\n  - {name: ro, path: /x, access: ro}\nenvironments:\n"
          "  - {name: e, mounts: [{volume: ro, path: /d, read_only: false}]}\n",
          "read_only: false", "read-only", "a stack mounting a ro volume read-write");
    fails("environments:\n  - {name: e, mounts: [{volume: v, path: /d, sub_path: ../x}]}\n",
          "leaves volume 'v'", NULL, "a stack's sub_path with ..");
    fails("environments:\n  - {name: e, env: {A: [1]}}\n", "env 'A' must be", NULL,
          "a stack's env value that is a list");
    fails("environments:\n  - {name: e, image: docker://a/b, image: docker://c/d}\n",
          "given twice", NULL, "a key given twice in a stack");
}

/* partitions: name -> GPU types and/or a priority class (what sbatch -p NAME means). */
static void test_partitions(void)
{
    gt_error_t err;
    gt_config_t *cfg = parse("priority_classes:\n"
                             "  - {name: batch, value: 50}\n"
                             "  - {name: urgent, value: 500}\n"
                             "scheduler: {default_priority_class: batch}\n"
                             "partitions:\n"
                             "  gpu: {gpu_type: [h100, a100]}\n"
                             "  h100: {gpu_type: h100, priority_class: urgent}\n"
                             "  debug: {priority_class: batch}\n"
                             "  any:\n",
                             &err);
    ok(cfg != NULL, "partitions parse: %s", err.msg);
    if (cfg) {
        char *s = json_dumps(cfg->partitions, JSON_COMPACT);
        is_str(s, "{\"gpu\":{\"gpu_type\":[\"h100\",\"a100\"]},\"h100\":{\"gpu_type\":"
                  "[\"h100\"],\"priority_class\":\"urgent\"},\"debug\":{\"gpu_type\":[],"
                  "\"priority_class\":\"batch\"},\"any\":{\"gpu_type\":[]}}",
               "each partition: its GPU types (a single one as a list), its class, in file "
               "order; 'any:' alone means nothing more");
        free(s);
        gt_config_free(cfg);
    }
    cfg = parse("partitions:\n  p: {priority_class: production}\n", &err);
    ok(cfg != NULL, "a default class (production) may be a partition's: %s", err.msg);
    if (cfg)
        is_int(json_object_size(cfg->partitions), 1, "one partition");
    gt_config_free(cfg);
    cfg = parse("nodes: []\n", &err);
    ok(cfg && json_object_size(cfg->partitions) == 0, "no partitions: an empty mapping");
    gt_config_free(cfg);
    fails("partitions:\n  p: {priority_class: gold}\n", "line 2",
          "priority_class gold is not a priority class; write one of production, normal, "
          "experimental", "a partition's unknown class");
    fails("partitions:\n  p: {gpu_type: h100, qos: x}\n", "line 2",
          "unknown key 'qos' under partitions.p", "an unknown key of a partition");
    fails("partitions:\n  p: {gpu_type: []}\n", "line 2", "partitions.p.gpu_type is an "
          "empty list", "an empty GPU type list");
    fails("partitions:\n  p: {gpu_type: ''}\n", "line 2", "partitions.p.gpu_type is empty",
          "an empty GPU type");
    fails("partitions:\n  p: {gpu_type: h100}\n  p: {gpu_type: a100}\n", "line 3",
          "partitions.p is given twice", "a partition given twice");
    fails("partitions:\n  'a b': {gpu_type: h100}\n", "line 2", "'a b' is not a valid name",
          "a partition name with a space");
    fails("partitions: [gpu]\n", "line 1", "partitions is a list",
          "partitions as a list");
    fails("partitions:\n  p: [h100]\n", "line 2", "partitions.p is a list",
          "a partition as a list");
}

/* idle: {threshold, after} and the classes' idle_action (gpu_use.c reads them). */
static void test_idle(void)
{
    gt_error_t err;
    gt_config_t *cfg = parse("nodes: []\n", &err);
    ok(cfg && cfg->idle_threshold == 0.05 && cfg->idle_after_s == 1800,
       "idle defaults: under 5%% for 30 minutes");
    ok(cfg && cfg->nclasses == 3 && !cfg->classes[0].idle_requeue &&
           !cfg->classes[1].idle_requeue && !cfg->classes[2].idle_requeue,
       "the default classes only report");
    gt_config_free(cfg);
    cfg = parse("idle: {threshold: 10%, after: 90s}\n"
                "priority_classes:\n"
                "  - {name: a, value: 1, idle_action: requeue}\n"
                "  - {name: normal, value: 2, idle_action: report}\n",
                &err);
    ok(cfg != NULL, "idle and idle_action parse: %s", err.msg);
    if (cfg) {
        ok(cfg->idle_threshold > 0.0999 && cfg->idle_threshold < 0.1001,
           "threshold 10%% is 0.1 (%g)", cfg->idle_threshold);
        is_int(cfg->idle_after_s, 90, "after 90s");
        ok(cfg->classes[0].idle_requeue, "idle_action: requeue");
        ok(!cfg->classes[1].idle_requeue, "idle_action: report");
    }
    gt_config_free(cfg);
    cfg = parse("idle: {threshold: 0.2}\n", &err);
    ok(cfg && cfg->idle_threshold == 0.2 && cfg->idle_after_s == 1800,
       "a ratio (0.2); after keeps its default");
    gt_config_free(cfg);
    fails("idle: {threshold: 0}\n", "line 1", "idle.threshold: '0' is not a utilization",
          "a threshold of 0");
    fails("idle: {threshold: 150%}\n", "line 1", "idle.threshold: '150%' is not",
          "a threshold above 100%");
    fails("idle: {threshold: low}\n", "line 1", "write a utilization such as 5% or 0.05",
          "a threshold that is not a number");
    fails("idle: {after: 0s}\n", "line 1", "idle.after must be above 0", "after 0");
    fails("idle: {threshold: 5%, for: 1h}\n", "line 1", "unknown key 'for'",
          "an unknown key of idle");
    fails("priority_classes:\n  - {name: a, value: 1, idle_action: kill}\n", "line 2",
          "'kill' is not an idle action", "an unknown idle_action");
}

/* priority_classes[].session_idle_timeout: the idle timeout of interactive sessions (attach.c):
 * a duration, 0 allowed (never), -1 when not written (the server's default). */
static void test_session_idle(void)
{
    gt_error_t err;
    gt_config_t *cfg = parse("priority_classes:\n"
                             "  - {name: dev, value: 1, session_idle_timeout: 15m}\n"
                             "  - {name: batch, value: 2, session_idle_timeout: 0s}\n"
                             "  - {name: normal, value: 3}\n",
                             &err);
    ok(cfg != NULL, "session_idle_timeout parses: %s", err.msg);
    if (cfg) {
        is_int(cfg->classes[0].session_idle_s, 900, "15m is 900 s");
        is_int(cfg->classes[1].session_idle_s, 0, "0s: never");
        is_int(cfg->classes[2].session_idle_s, -1, "not written: -1 (the server's default)");
    }
    gt_config_free(cfg);
    cfg = parse("nodes: []\n", &err);
    ok(cfg && cfg->nclasses == 3 && cfg->classes[0].session_idle_s == -1,
       "the default classes leave it to the server");
    gt_config_free(cfg);
    fails("priority_classes:\n  - {name: a, value: 1, session_idle_timeout: soon}\n", "line 2",
          "session_idle_timeout", "a session_idle_timeout that is not a duration");
}

int main(void)
{
    test_session_idle();
    test_idle();
    test_partitions();
    test_volumes();
    test_full();
    test_defaults();
    test_errors();
    test_aliases();
    test_range();
    test_load();
    test_users();
    return tap_done();
}
