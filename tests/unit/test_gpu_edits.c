/* gpu_edits: CDI specs (JSON and YAML) this test writes for fake device nodes (mknod, as the
 * Slurm peer makes them: needs root, else those parts are skipped), the driver fallback with a
 * fake dev directory and PATH, and the parsing of `ldconfig -p`. */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/gpu_edits.h"
#include "tap.h"

static char root[] = "/tmp/gantry-gpu-edits.XXXXXX";

static void put(const char *rel, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", p);
        exit(1);
    }
}

static void mkdir_in(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        printf("Bail out! mkdir %s: %s\n", p, strerror(errno));
        exit(1);
    }
}

static char *at(const char *rel) /* root/rel, in one of four rotating buffers */
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
    return buf[i];
}

static const gpu_device_node_t *device(const gpu_edits_t *e, const char *path) {
    for (size_t i = 0; i < e->ndevices; i++)
        if (!strcmp(e->devices[i].path, path))
            return &e->devices[i];
    return NULL;
}

static const gpu_mount_t *mount_at(const gpu_edits_t *e, const char *container_path) {
    for (size_t i = 0; i < e->nmounts; i++)
        if (!strcmp(e->mounts[i].container_path, container_path))
            return &e->mounts[i];
    return NULL;
}

static bool has_opt(const gpu_mount_t *m, const char *opt) {
    for (size_t i = 0; m && m->options[i]; i++)
        if (!strcmp(m->options[i], opt))
            return true;
    return false;
}

static size_t env_count(const gpu_edits_t *e) {
    size_t n = 0;
    while (e->env && e->env[n])
        n++;
    return n;
}

static bool has_env(const gpu_edits_t *e, const char *kv) {
    for (size_t i = 0; e->env && e->env[i]; i++)
        if (!strcmp(e->env[i], kv))
            return true;
    return false;
}

/* The JSON spec: GPUs 0..3 by index and by UUID, "all", spec-wide edits (env, nvidiactl, one
 * library, a hook that is not run). */
static void write_json_spec(const char *rel) {
    json_t *devs = json_array();
    for (int i = 0; i < 4; i++) {
        char name[8], path[32], uuid[48];
        snprintf(name, sizeof(name), "%d", i);
        snprintf(path, sizeof(path), "/dev/nvidia%d", i);
        snprintf(uuid, sizeof(uuid), "GPU-0000000%d-aaaa-bbbb-cccc-dddddddddddd", i);
        json_t *dn = json_pack("{s:s, s:s}", "path", path, "hostPath", at(path + 1));
        json_array_append_new(
            devs, json_pack("{s:s, s:{s:[o]}}", "name", name, "containerEdits", "deviceNodes", dn));
        json_array_append_new(
            devs, json_pack("{s:s, s:{s:[O]}}", "name", uuid, "containerEdits", "deviceNodes", dn));
    }
    json_t *alldn = json_array();
    for (int i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dev/nvidia%d", i);
        json_array_append_new(alldn,
                              json_pack("{s:s, s:s}", "path", path, "hostPath", at(path + 1)));
    }
    json_array_append_new(
        devs, json_pack("{s:s, s:{s:o}}", "name", "all", "containerEdits", "deviceNodes", alldn));
    json_t *spec =
        json_pack("{s:s, s:s, s:o, s:{s:[s], s:[{s:s, s:s}], s:[{s:s, s:s, s:[s,s,s,s]}],"
                  " s:[{s:s, s:s, s:[s,s]}]}}",
                  "cdiVersion", "0.5.0", "kind", "nvidia.com/gpu", "devices", devs,
                  "containerEdits", "env", "NVIDIA_VISIBLE_DEVICES=void", "deviceNodes", "path",
                  "/dev/nvidiactl", "hostPath", at("dev/nvidiactl"), "mounts", "hostPath",
                  at("lib/libfake.so.1.2"), "containerPath", "/usr/lib/libfake.so.1.2", "options",
                  "ro", "nosuid", "nodev", "bind", "hooks", "hookName", "createContainer", "path",
                  "/usr/bin/nvidia-cdi-hook", "args", "nvidia-cdi-hook", "update-ldcache");
    char *text = json_dumps(spec, JSON_INDENT(2));
    put(rel, text);
    free(text);
    json_decref(spec);
}

/* The same shape in YAML, as nvidia-ctk writes it; GPU 3 with its type, numbers and mode
 * given (not read from the node), GPU 2 named by a plain integer. */
static void write_yaml_spec(const char *rel) {
    char text[8192];
    snprintf(text, sizeof(text),
             "---\n"
             "cdiVersion: 0.5.0\n"
             "containerEdits:\n"
             "  deviceNodes:\n"
             "  - path: /dev/nvidiactl\n"
             "    hostPath: %s\n"
             "  env:\n"
             "  - NVIDIA_VISIBLE_DEVICES=void\n"
             "  hooks:\n"
             "  - args: [nvidia-cdi-hook, update-ldcache, --folder, /usr/lib]\n"
             "    hookName: createContainer\n"
             "    path: /usr/bin/nvidia-cdi-hook\n"
             "  mounts:\n"
             "  - containerPath: /usr/lib/libfake.so.1.2\n"
             "    hostPath: %s\n"
             "devices:\n"
             "- containerEdits:\n"
             "    deviceNodes:\n"
             "    - path: /dev/nvidia0\n"
             "      hostPath: %s\n"
             "  name: \"0\"\n"
             "- containerEdits:\n"
             "    deviceNodes:\n"
             "    - {path: /dev/nvidia1, hostPath: %s}\n"
             "    env: [GPU1=yes]\n"
             "  name: \"1\"\n"
             "- containerEdits:\n"
             "    deviceNodes:\n"
             "    - path: /dev/nvidia2\n"
             "      hostPath: %s\n"
             "  name: 2\n"
             "- containerEdits:\n"
             "    deviceNodes:\n"
             "    - {path: /dev/nvidia3, hostPath: /nonexistent/nvidia3, type: c, major: 195,"
             " minor: 3, fileMode: 0660}\n"
             "  name: \"3\"\n"
             "kind: nvidia.com/gpu\n",
             at("dev/nvidiactl"), at("lib/libfake.so.1.2"), at("dev/nvidia0"), at("dev/nvidia1"),
             at("dev/nvidia2"));
    put(rel, text);
}

static int make_devices(void) {
    mkdir_in("dev");
    const char *names[] = {"nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-uvm"};
    const int minors[] = {0, 1, 2, 3, 255, 254};
    for (int i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof(p), "dev/%s", names[i]);
        if (mknod(at(p), S_IFCHR | 0666, makedev(195, minors[i])) < 0)
            return -1;
    }
    return 0;
}

static void test_cdi_json(void) {
    mkdir_in("cdi-json");
    write_json_spec("cdi-json/nvidia.json");
    put("cdi-json/README", "not a spec: ignored\n");
    gpu_edits_t e;
    gt_error_t err = {0};
    const int gpus[] = {1, 3};
    int rc = gpu_edits_for(at("cdi-json"), "/nonexistent", gpus, 2, &e, &err);
    is_int(rc, 0, "JSON spec: edits for GPUs 1 and 3 (%s)", err.msg);
    is_str(e.source, "cdi", "they come from CDI");
    is_int(e.ndevices, 3, "exactly three device nodes: the two GPUs and nvidiactl");
    const gpu_device_node_t *d1 = device(&e, "/dev/nvidia1"), *d3 = device(&e, "/dev/nvidia3");
    ok(d1 && d3, "nvidia1 and nvidia3 are there");
    ok(!device(&e, "/dev/nvidia0") && !device(&e, "/dev/nvidia2"),
       "nvidia0 and nvidia2 are not (the device \"all\" and the UUID names are not taken)");
    ok(device(&e, "/dev/nvidiactl") != NULL, "the spec-wide nvidiactl is there");
    if (d1) {
        is_str(d1->host_path, at("dev/nvidia1"), "nvidia1's host path is the fake node");
        ok(d1->type == 'c' && d1->major == 195 && d1->minor == 1,
           "type and numbers from stat (c 195:1): got %c %ld:%ld", d1->type, d1->major, d1->minor);
        is_int(d1->mode, 0, "no fileMode: 0 (= 0666)");
    }
    if (d3)
        ok(d3->major == 195 && d3->minor == 3, "nvidia3 is 195:3");
    is_int(e.nmounts, 1, "one mount: the spec-wide library");
    const gpu_mount_t *m = mount_at(&e, "/usr/lib/libfake.so.1.2");
    ok(m && !strcmp(m->host_path, at("lib/libfake.so.1.2")), "the library's host path");
    ok(has_opt(m, "ro") && has_opt(m, "bind"), "bound read-only");
    is_int(env_count(&e), 1, "one variable");
    ok(has_env(&e, "NVIDIA_VISIBLE_DEVICES=void"), "the spec-wide env");
    gpu_edits_free(&e);
    ok(e.devices == NULL && e.ndevices == 0 && e.env == NULL, "gpu_edits_free empties it");
    gpu_edits_free(&e);
    gpu_edits_free(NULL);

    const int one[] = {2};
    rc = gpu_edits_for(at("cdi-json"), NULL, one, 1, &e, &err);
    ok(rc == 0 && e.ndevices == 2 && device(&e, "/dev/nvidia2"), "GPU 2 alone: nvidia2 and "
                                                                 "nvidiactl");
    gpu_edits_free(&e);
}

static void test_cdi_yaml(void) {
    mkdir_in("cdi-yaml");
    write_yaml_spec("cdi-yaml/nvidia.yaml");
    gpu_edits_t e;
    gt_error_t err = {0};
    const int gpus[] = {1, 3};
    int rc = gpu_edits_for(at("cdi-yaml"), NULL, gpus, 2, &e, &err);
    is_int(rc, 0, "YAML spec: edits for GPUs 1 and 3 (%s)", err.msg);
    is_str(e.source, "cdi", "from CDI");
    is_int(e.ndevices, 3, "three device nodes");
    const gpu_device_node_t *d1 = device(&e, "/dev/nvidia1"), *d3 = device(&e, "/dev/nvidia3");
    ok(d1 && d1->major == 195 && d1->minor == 1, "nvidia1, 195:1 from stat");
    ok(d3 && d3->type == 'c' && d3->major == 195 && d3->minor == 3 &&
           !strcmp(d3->host_path, "/nonexistent/nvidia3"),
       "nvidia3 as the spec gives it (type, numbers; its host path is not needed)");
    is_int(d3 ? d3->mode : 0, 0660, "fileMode 0660 (a YAML octal)");
    ok(!device(&e, "/dev/nvidia0") && !device(&e, "/dev/nvidia2"), "not nvidia0, nvidia2");
    ok(device(&e, "/dev/nvidiactl") != NULL, "nvidiactl (spec-wide)");
    const gpu_mount_t *m = mount_at(&e, "/usr/lib/libfake.so.1.2");
    ok(m && has_opt(m, "ro") && has_opt(m, "nosuid") && has_opt(m, "bind"),
       "a mount without options is bound read-only");
    is_int(env_count(&e), 2, "two variables: spec-wide and GPU 1's");
    ok(has_env(&e, "NVIDIA_VISIBLE_DEVICES=void") && has_env(&e, "GPU1=yes"), "both");
    gpu_edits_free(&e);

    const int two[] = {2};
    rc = gpu_edits_for(at("cdi-yaml"), NULL, two, 1, &e, &err);
    ok(rc == 0 && device(&e, "/dev/nvidia2"), "a device named by a plain YAML integer (2)");
    ok(env_count(&e) == 1 && !has_env(&e, "GPU1=yes"), "another GPU's env is not applied");
    gpu_edits_free(&e);
}

static void test_cdi_errors(void) {
    gpu_edits_t e;
    gt_error_t err = {0};
    const int gpus[] = {1, 3};
    /* each call gets the fake dev dir: were a bad spec skipped, the fallback would succeed */

    /* a spec that names none of the job's GPUs, then one naming only some */
    mkdir_in("cdi-none");
    put("cdi-none/nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
                                "- name: \"0\"\n- name: \"2\"\n");
    errno = 0;
    int rc = gpu_edits_for(at("cdi-none"), at("dev"), gpus, 2, &e, &err);
    ok(rc == -1 && errno == ENODEV, "a spec naming none of the job's GPUs: -1, ENODEV");
    ok(strstr(err.msg, "name none") && strstr(err.msg, "missing: 1, 3") &&
           strstr(err.msg, "nvidia-ctk cdi generate"),
       "the message says which and what to do: %s", err.msg);
    ok(e.ndevices == 0 && e.nmounts == 0 && e.env == NULL, "nothing left in *out");
    const int some[] = {0, 1};
    rc = gpu_edits_for(at("cdi-none"), at("dev"), some, 2, &e, &err);
    ok(rc == -1 && strstr(err.msg, "lack some") && strstr(err.msg, "missing: 1"),
       "a spec lacking one of them: -1 naming it: %s", err.msg);

    /* unreadable, broken, not CDI */
    mkdir_in("cdi-dangling");
    if (symlink(at("nowhere.json"), at("cdi-dangling/nvidia.json")) == 0) {
        errno = 0;
        rc = gpu_edits_for(at("cdi-dangling"), at("dev"), gpus, 2, &e, &err);
        ok(rc == -1 && errno == ENOENT, "an unreadable spec: -1, ENOENT");
        ok(strstr(err.msg, "cannot read the CDI spec") != NULL, "says so: %s", err.msg);
    }
    mkdir_in("cdi-badjson");
    write_json_spec("cdi-badjson/a.json");
    put("cdi-badjson/b.json", "{\"cdiVersion\": \"0.5.0\", \"kind\": ");
    errno = 0;
    rc = gpu_edits_for(at("cdi-badjson"), at("dev"), gpus, 2, &e, &err);
    ok(rc == -1 && errno == EINVAL && strstr(err.msg, "b.json"),
       "a broken JSON spec beside a good one: -1, EINVAL, naming it: %s", err.msg);
    mkdir_in("cdi-badyaml");
    put("cdi-badyaml/nvidia.yaml", "cdiVersion: 0.5.0\nkind: [nvidia.com/gpu\n");
    rc = gpu_edits_for(at("cdi-badyaml"), at("dev"), gpus, 2, &e, &err);
    ok(rc == -1 && errno == EINVAL && strstr(err.msg, "YAML"), "broken YAML: %s", err.msg);
    mkdir_in("cdi-notcdi");
    put("cdi-notcdi/x.yml", "hello: world\n");
    rc = gpu_edits_for(at("cdi-notcdi"), at("dev"), gpus, 2, &e, &err);
    ok(rc == -1 && strstr(err.msg, "is not a CDI spec"), "not a CDI spec: %s", err.msg);

    /* a device node missing on the node, without type and numbers in the spec */
    mkdir_in("cdi-missing");
    put("cdi-missing/nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
                                   "- name: \"1\"\n  containerEdits:\n    deviceNodes:\n"
                                   "    - {path: /dev/nvidia1, hostPath: /nonexistent/nv1}\n");
    errno = 0;
    rc = gpu_edits_for(at("cdi-missing"), at("dev"), gpus, 1, &e, &err);
    ok(rc == -1 && errno == ENOENT && strstr(err.msg, "/nonexistent/nv1"),
       "a device node missing on the node: -1, ENOENT: %s", err.msg);

    /* GPU 1 in two specs */
    mkdir_in("cdi-twice");
    write_json_spec("cdi-twice/a.json");
    write_yaml_spec("cdi-twice/b.yaml");
    rc = gpu_edits_for(at("cdi-twice"), at("dev"), gpus, 2, &e, &err);
    ok(rc == -1 && strstr(err.msg, "defined twice"), "a GPU in two specs: %s", err.msg);

    /* a non-bind mount */
    mkdir_in("cdi-tmpfs");
    put("cdi-tmpfs/nvidia.yaml", "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
                                 "- name: \"1\"\ncontainerEdits:\n  mounts:\n"
                                 "  - {hostPath: /tmp, containerPath: /x, type: tmpfs}\n");
    rc = gpu_edits_for(at("cdi-tmpfs"), at("dev"), gpus, 1, &e, &err);
    ok(rc == -1 && strstr(err.msg, "bind"), "a non-bind mount is refused: %s", err.msg);
}

static void test_fallback(void) {
    gpu_edits_t e;
    gt_error_t err = {0};
    const int gpus[] = {1, 3};
    mkdir_in("bin");
    put("bin/nvidia-smi", "#!/bin/sh\necho fake\n");
    chmod(at("bin/nvidia-smi"), 0755);
    put("bin/nvidia-debugdump", "not executable\n");
    char *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "relative/bin:%s:/nonexistent", at("bin"));
    setenv("PATH", path, 1);

    /* a spec of another vendor only: not ours, so the driver's files */
    mkdir_in("cdi-other");
    put("cdi-other/fpga.yaml", "cdiVersion: 0.5.0\nkind: vendor.com/fpga\ndevices:\n"
                               "- name: \"1\"\n");
    int rc = gpu_edits_for(at("cdi-other"), at("dev"), gpus, 2, &e, &err);
    is_int(rc, 0, "fallback: edits for GPUs 1 and 3 (%s)", err.msg);
    is_str(e.source, "driver", "from the driver's files (no spec of kind nvidia.com/gpu)");
    const gpu_device_node_t *d1 = device(&e, "/dev/nvidia1");
    ok(d1 && !strcmp(d1->host_path, at("dev/nvidia1")) && d1->type == 'c' && d1->major == 195 &&
           d1->minor == 1,
       "nvidia1 from the fake dev dir, 195:1");
    ok(device(&e, "/dev/nvidia3") != NULL, "nvidia3");
    ok(!device(&e, "/dev/nvidia0") && !device(&e, "/dev/nvidia2"), "not the other GPUs");
    const gpu_device_node_t *ctl = device(&e, "/dev/nvidiactl");
    ok(ctl && ctl->minor == 255, "nvidiactl (195:255)");
    ok(device(&e, "/dev/nvidia-uvm") != NULL, "nvidia-uvm (present)");
    ok(!device(&e, "/dev/nvidia-modeset") && !device(&e, "/dev/nvidia-uvm-tools"),
       "absent control files are left out");
    is_int(e.ndevices, 4, "four device nodes in all");
    ok(e.env == NULL, "no env");
    const gpu_mount_t *smi = mount_at(&e, "/usr/bin/nvidia-smi");
    ok(smi && !strcmp(smi->host_path, at("bin/nvidia-smi")) && has_opt(smi, "ro") &&
           has_opt(smi, "bind"),
       "nvidia-smi from PATH, bound read-only at /usr/bin/nvidia-smi");
    ok(!mount_at(&e, at("bin/nvidia-debugdump")), "a tool that is not executable is not");
    bool same = true, ro = true;
    for (size_t i = 0; i < e.nmounts; i++) {
        same = same && (!strcmp(e.mounts[i].host_path, e.mounts[i].container_path) ||
                        !strncmp(e.mounts[i].container_path, "/usr/bin/", 9));
        ro = ro && has_opt(&e.mounts[i], "ro");
        diag("mount %s", e.mounts[i].host_path);
    }
    ok(same && ro, "every mount (%zu) read-only at its own path (tools at /usr/bin)", e.nmounts);
    gpu_edits_free(&e);

    /* no CDI directory at all; a GPU without its device file; a file that is not a device */
    const int five[] = {5};
    errno = 0;
    rc = gpu_edits_for(at("no-cdi"), at("dev"), five, 1, &e, &err);
    ok(rc == -1 && errno == ENOENT && strstr(err.msg, "nvidia5"),
       "a GPU without its device file: -1, ENOENT: %s", err.msg);
    ok(e.ndevices == 0 && e.nmounts == 0, "nothing left in *out");
    put("dev/nvidia4", "");
    const int four[] = {4};
    errno = 0;
    rc = gpu_edits_for(at("no-cdi"), at("dev"), four, 1, &e, &err);
    ok(rc == -1 && errno == ENODEV, "a regular file as nvidia4: -1, ENODEV: %s", err.msg);

    if (old_path)
        setenv("PATH", old_path, 1);
    free(old_path);
}

static void test_no_gpus(void) {
    gpu_edits_t e = {.ndevices = 99};
    gt_error_t err = {0};
    mkdir_in("cdi-broken");
    put("cdi-broken/x.json", "{");
    int rc = gpu_edits_for(at("cdi-broken"), at("dev"), NULL, 0, &e, &err);
    ok(rc == 0 && e.ndevices == 0 && e.nmounts == 0 && e.env == NULL && e.source == NULL,
       "no GPUs: no edits, and no spec read (a broken one is not seen)");
    const int neg[] = {-1};
    errno = 0;
    rc = gpu_edits_for(NULL, NULL, neg, 1, &e, &err);
    ok(rc == -1 && errno == EINVAL, "a negative index: EINVAL");
}

static void test_ldcache(void) {
#if defined(__x86_64__)
    const char *text =
        "1234 libs found in cache `/etc/ld.so.cache'\n"
        "\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1\n"
        "\tlibnvidia-mlx.so (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnvidia-mlx.so\n"
        "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n"
        "\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1\n"
        "\tlibcuda.so (libc6,x86-64, OS ABI: Linux 3.2.0) => /usr/lib/x86_64-linux-gnu/"
        "libcuda.so\n"
        "\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6\n"
        "\tlibnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/"
        "libnvidia-ptxjitcompiler.so.1\n"
        "\tlibnvidia-pkcs11-openssl3.so.570.86.15 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/"
        "libnvidia-pkcs11-openssl3.so.570.86.15\n"
        "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1\n"
        "\tlibnvidia-nvvm.so.4 (libc6,x86-64) => relative/libnvidia-nvvm.so.4\n"
        "garbage line\n"
        "\tlibcudadebugger.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/"
        "libcudadebugger.so.1";
    char **libs = gpu_edits_ldcache_libs(text);
    const char *want[] = {"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
                          "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                          "/usr/lib/x86_64-linux-gnu/libcuda.so",
                          "/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1",
                          "/usr/lib/x86_64-linux-gnu/libnvidia-pkcs11-openssl3.so.570.86.15",
                          "/usr/lib/x86_64-linux-gnu/libcudadebugger.so.1"};
    size_t n = 0;
    while (libs[n])
        n++;
    is_int(n, 6,
           "ldconfig -p: six driver libraries (not libnvidia-mlx, libc, 32-bit, "
           "relative, duplicate)");
    for (size_t i = 0; i < 6 && i < n; i++)
        is_str(libs[i], want[i], "library %zu", i);
    for (size_t i = 0; libs[i]; i++)
        free(libs[i]);
    free(libs);
    libs = gpu_edits_ldcache_libs("");
    ok(libs && !libs[0], "empty output: an empty list");
    free(libs);
#else
    printf("ok %d # skip ldconfig sample is for x86-64\n", ++tap_n);
#endif
}

/* What nvidia-ctk's ldcache hook would make: a spec mounting a library's real file gets its
 * soname (from this machine's real linker cache) bound beside it. libjansson serves. */
static void test_soname_links(void) {
    Dl_info info;
    char *real = NULL;
    if (!dladdr((void *)json_object, &info) || !info.dli_fname ||
        !(real = realpath(info.dli_fname, NULL))) {
        printf("ok %d # skip cannot locate libjansson\n", ++tap_n);
        return;
    }
    const char *rbase = strrchr(real, '/') + 1, *lbase = strrchr(info.dli_fname, '/') + 1;
    if (!strcmp(rbase, lbase)) {
        printf("ok %d # skip %s is not a link\n", ++tap_n, info.dli_fname);
        free(real);
        return;
    }
    mkdir_in("cdi-soname");
    char text[3 * PATH_MAX], cpath[PATH_MAX / 2], lpath[PATH_MAX / 2];
    snprintf(cpath, sizeof(cpath), "/usr/lib/gantry-test/%s", rbase);
    snprintf(lpath, sizeof(lpath), "/usr/lib/gantry-test/%s", lbase);
    snprintf(text, sizeof(text),
             "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
             "- name: \"1\"\n  containerEdits:\n    deviceNodes:\n"
             "    - {path: /dev/nvidia1, type: c, major: 195, minor: 1}\n"
             "containerEdits:\n  mounts:\n"
             "  - {hostPath: %s, containerPath: %s, options: [ro, nosuid, nodev, bind]}\n",
             real, cpath);
    put("cdi-soname/nvidia.yaml", text);
    gpu_edits_t e;
    gt_error_t err = {0};
    const int one[] = {1};
    int rc = gpu_edits_for(at("cdi-soname"), NULL, one, 1, &e, &err);
    is_int(rc, 0, "a spec mounting %s (%s)", real, err.msg);
    const gpu_mount_t *m = mount_at(&e, lpath);
    ok(m != NULL, "its soname %s is bound beside it (%zu mounts)", lpath, e.nmounts);
    ok(m && !strcmp(m->host_path, real) && has_opt(m, "ro"), "from the same file, read-only");
    gpu_edits_free(&e);
    free(real);
}

int main(void) {
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    mkdir_in("lib");
    put("lib/libfake.so.1.2", "");
    test_ldcache();
    test_no_gpus();
    if (make_devices() < 0) {
        printf("ok %d # skip mknod: %s (device nodes need root)\n", ++tap_n, strerror(errno));
    } else {
        test_cdi_json();
        test_cdi_yaml();
        test_cdi_errors();
        test_fallback();
    }
    test_soname_links();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        diag("could not remove %s", root);
    return tap_done();
}
