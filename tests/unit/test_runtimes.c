/* runtimes: which of runc, crun, skopeo, umoci the node has, with fake programs on a private
 * PATH (found, failing, missing), the choice of OCI runtime, crun on a hybrid cgroup host
 * (this machine), and `gantry agent --discover` printing the result. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/runtimes.h"
#include "tap.h"

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static char dir[] = "/tmp/gantry-runtimes-XXXXXX";
static char real_path[8192];

static void fake(const char *name, const char *body)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (!body) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "w");
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(p, 0755);
}

static void all_good(void)
{
    fake("runc", "echo 'runc version 1.1.5+ds1'; echo 'commit: x'");
    fake("crun", "echo 'crun version 1.8.1'");
    fake("skopeo", "echo 'skopeo version 1.9.3'");
    fake("umoci", "echo 'umoci version 0.4.7+ds-3+b7'");
}

/* a directory that is no cgroup mount: neither v2 nor hybrid */
static runtimes_opts_t plain_opts(const char *want)
{
    return (runtimes_opts_t){.oci_runtime = want, .cgroup_root = dir};
}

static void test_fakes(void)
{
    runtimes_t rt;
    gt_error_t err = {0};
    runtimes_opts_t o = plain_opts(NULL);
    setenv("PATH", dir, 1);

    all_good();
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect");
    ok(rt.runc.usable && rt.crun.usable && rt.skopeo.usable && rt.umoci.usable, "all four usable");
    is_str(rt.runc.version, "1.1.5+ds1", "runc's version");
    is_str(rt.umoci.version, "0.4.7+ds-3+b7", "umoci's version");
    ok(rt.oci, "oci offered");
    is_str(rt.oci_runtime, "runc", "runc preferred");
    is_str(rt.missing, "", "nothing missing");
    json_t *j = json_object();
    runtimes_to_json(&rt, j);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(text, "{\"oci_runtime\":\"runc\",\"runtimes\":[\"process\",\"oci\"]}", "JSON");
    free(text);
    json_decref(j);
    char line[1024];
    ok(has(runtimes_describe(&rt, line, sizeof(line)), "oci (runc 1.1.5+ds1, skopeo 1.9.3"),
       "start line: %s", line);

    o.oci_runtime = "crun";
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect with --oci-runtime crun");
    is_str(rt.oci_runtime, "crun", "crun when asked");

    o.oci_runtime = NULL;
    fake("runc", NULL);
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect without runc");
    ok(!rt.runc.usable && has(rt.runc.why, "runc not found on PATH"), "runc missing: %s",
       rt.runc.why);
    is_str(rt.oci_runtime, "crun", "crun when runc is missing");
    ok(rt.oci, "still oci");

    fake("crun", "echo 'crun: cannot open sd-bus' >&2; exit 1");
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect with a failing crun");
    ok(!rt.crun.usable && has(rt.crun.why, "cannot open sd-bus"), "crun's own message: %s",
       rt.crun.why);
    ok(!rt.oci && rt.oci_runtime == NULL, "no OCI runtime: no oci");
    ok(has(rt.missing, "no OCI runtime") && has(rt.missing, "runc not found"), "missing: %s",
       rt.missing);
    j = json_object();
    runtimes_to_json(&rt, j);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(text, "{\"runtimes\":[\"process\"]}", "JSON without oci");
    free(text);
    json_decref(j);
    ok(has(runtimes_describe(&rt, line, sizeof(line)), "process only"), "start line: %s", line);

    all_good();
    fake("skopeo", NULL);
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect without skopeo");
    ok(!rt.oci, "no skopeo: no oci");
    is_str(rt.oci_runtime, "runc", "the runtime is still found");
    ok(has(rt.missing, "skopeo not found on PATH") && !has(rt.missing, "runc"),
       "missing names skopeo only: %s", rt.missing);

    all_good();
    fake("umoci", "exit 3");
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect with a failing umoci");
    ok(!rt.oci && has(rt.missing, "`umoci --version` failed"), "missing: %s", rt.missing);

    all_good();
    fake("runc", "exit 1");
    o.oci_runtime = "runc";
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect with --oci-runtime runc, runc failing");
    ok(!rt.oci && rt.oci_runtime == NULL, "no fallback to crun when runc was asked for");
    ok(has(rt.missing, "--oci-runtime runc is not usable"), "missing: %s", rt.missing);

    o.oci_runtime = "docker";
    errno = 0;
    is_int(runtimes_detect(&o, &rt, &err), -1, "--oci-runtime docker refused");
    is_int(errno, EINVAL, "EINVAL");
    ok(has(err.msg, "runc or crun"), "message: %s", err.msg);
    setenv("PATH", real_path, 1);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* This machine: crun 1.8 on a hybrid host with controllers in cgroup2 refuses to run. */
static void test_host(void)
{
    runtimes_cgroup_mode_t m = runtimes_cgroup_mode("/sys/fs/cgroup");
    const char *want = sh("test \"$(stat -f -c %T /sys/fs/cgroup)\" = cgroup2fs") == 0 ? "v2"
                       : sh("test \"$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)\" = "
                            "cgroup2fs") == 0
                           ? "hybrid"
                           : "v1";
    const char *got = m == RUNTIMES_CG_V2 ? "v2" : m == RUNTIMES_CG_HYBRID ? "hybrid" : "v1";
    is_str(got, want, "cgroup mode of this host as stat -f sees it");
    if (m != RUNTIMES_CG_HYBRID || sh("command -v crun >/dev/null") != 0 ||
        sh("test -n \"$(cat /sys/fs/cgroup/unified/cgroup.controllers)\"") != 0) {
        ok(1, "# skip not a hybrid host with controllers in cgroup2 and crun");
        return;
    }
    runtimes_t rt;
    gt_error_t err = {0};
    runtimes_opts_t o = {0};
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect on this host");
    ok(!rt.crun.usable && has(rt.crun.why, "hybrid"), "crun refused here: %s", rt.crun.why);
    o.crun_hybrid_ok = true;
    is_int(runtimes_detect(&o, &rt, &err), 0, "detect with crun started outside the hybrid layout");
    ok(rt.crun.usable, "then crun is usable");
}

/* build/<mode>/tests/test_runtimes -> build/<mode>/gantry */
static int gantry(char *path, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", path, len - 16);
    if (n <= 0)
        return -1;
    path[n] = '\0';
    *strrchr(path, '/') = '\0';
    *strrchr(path, '/') = '\0';
    strcat(path, "/gantry");
    return access(path, X_OK);
}

static void test_discover(void)
{
    char bin[PATH_MAX], cmd[PATH_MAX * 2];
    if (gantry(bin, sizeof(bin)) < 0) {
        ok(1, "# skip gantry not built beside the test");
        return;
    }
    all_good();
    snprintf(cmd, sizeof(cmd), "PATH=%s %s agent --gpus 0 --discover --oci-runtime runc", dir,
             bin);
    FILE *p = popen(cmd, "r");
    json_t *j = p ? json_loadf(p, 0, NULL) : NULL;
    if (p)
        pclose(p);
    const char *rt = json_string_value(json_object_get(j, "oci_runtime"));
    json_t *arr = json_object_get(j, "runtimes");
    is_int(json_array_size(arr), 2, "--discover: two runtimes");
    is_str(json_string_value(json_array_get(arr, 1)), "oci", "--discover: oci");
    is_str(rt, "runc", "--discover: the --oci-runtime asked for");
    ok(json_object_get(j, "gpus") != NULL, "--discover still lists the GPUs");
    json_decref(j);

    fake("umoci", NULL);
    p = popen(cmd, "r");
    j = p ? json_loadf(p, 0, NULL) : NULL;
    if (p)
        pclose(p);
    arr = json_object_get(j, "runtimes");
    is_int(json_array_size(arr), 1, "--discover without umoci: process only");
    ok(json_object_get(j, "oci_runtime") == NULL, "and no oci_runtime");
    json_decref(j);

    static const char *const bad[][2] = {
        {"--image-cache /tmp/a:b", "has a ':' in its path"},
        {"--image-cache-max lots", "lots"},
    };
    for (size_t i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "%s agent --server http://127.0.0.1:1 --gpus 0 --no-cgroups --state-dir %s/st "
                 "%s 2>&1",
                 bin, dir, bad[i][0]);
        p = popen(cmd, "r");
        char o[512] = "";
        size_t k = p ? fread(o, 1, sizeof(o) - 1, p) : 0;
        o[k] = '\0';
        o[strcspn(o, "\n")] = '\0';
        int s = p ? pclose(p) : -1;
        ok(has(o, bad[i][1]), "%s refused: %s", bad[i][0], o);
        is_int(WIFEXITED(s) ? WEXITSTATUS(s) : -1, 2, "exit status 2");
    }

    snprintf(cmd, sizeof(cmd), "%s agent --gpus 0 --discover --oci-runtime podman 2>&1", bin);
    p = popen(cmd, "r");
    char out[512] = "";
    size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    int st = p ? pclose(p) : -1;
    ok(has(out, "runc or crun"), "--oci-runtime podman refused: %s", out);
    is_int(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 2, "exit status 2");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(real_path, sizeof(real_path), "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    test_fakes();
    test_host();
    test_discover();
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    sh(cmd);
    return tap_done();
}
