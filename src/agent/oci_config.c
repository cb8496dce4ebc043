/* oci_config.c: a job's OCI bundle config.json (see oci_config.h). */
#include "agent/oci_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What root keeps in a container (Docker's default set); other users get none. */
static const char *const root_caps[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};

static json_t *strv(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *mount_of(const char *dest, const char *type, const char *src, const char *opts)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "destination", dest, "type", type, "source", src);
    json_t *a = json_array();
    char *copy = xstrdup(opts), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(t));
    free(copy);
    json_object_set_new(o, "options", a);
    return o;
}

json_t *oci_config_build(const oci_config_in_t *in, gt_error_t *err)
{
    if (!in->args || !in->args[0] || !*in->args[0] || !in->rootfs || in->rootfs[0] != '/' ||
        !in->cwd || in->cwd[0] != '/') {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument",
                     "a container needs a command, an absolute root and working directory");
        return NULL;
    }
    for (size_t i = 0; i < in->nbinds; i++)
        if (!in->binds[i].destination || in->binds[i].destination[0] != '/' ||
            !in->binds[i].source || in->binds[i].source[0] != '/') {
            errno = EINVAL;
            gt_error_set(err, "invalid_argument", "mount paths must be absolute ('%s')",
                         in->binds[i].destination ? in->binds[i].destination : "");
            return NULL;
        }

    json_t *groups = json_array();
    for (int i = 0; i < in->ngroups; i++)
        if (in->groups[i] != in->gid)
            json_array_append_new(groups, json_integer(in->groups[i]));
    json_t *user = json_pack("{s:I,s:I,s:o}", "uid", (json_int_t)in->uid, "gid",
                             (json_int_t)in->gid, "additionalGids", groups);
    json_t *caps = json_array();
    if (in->uid == 0)
        for (size_t i = 0; i < sizeof(root_caps) / sizeof(root_caps[0]); i++)
            json_array_append_new(caps, json_string(root_caps[i]));
    json_t *capset = json_pack("{s:O,s:O,s:O,s:O}", "bounding", caps, "effective", caps,
                               "permitted", caps, "ambient", json_array());
    json_decref(caps);
    json_t *process = json_pack("{s:b,s:o,s:o,s:o,s:s,s:b,s:o}", "terminal", 0, "user", user,
                                "args", strv(in->args), "env", strv(in->env), "cwd", in->cwd,
                                "noNewPrivileges", in->uid != 0, "capabilities", capset);

    json_t *mounts = json_array();
    json_array_append_new(mounts, mount_of("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(mounts, mount_of("/dev", "tmpfs", "tmpfs",
                                           "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(mounts, mount_of("/dev/pts", "devpts", "devpts",
                                           "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
    /* no size: a job's shared memory (NCCL, data loaders) counts against its memory limit */
    json_array_append_new(mounts, mount_of("/dev/shm", "tmpfs", "shm",
                                           "nosuid,noexec,nodev,mode=1777"));
    json_array_append_new(mounts, mount_of("/dev/mqueue", "mqueue", "mqueue",
                                           "nosuid,noexec,nodev"));
    /* a new network namespace needs its own sysfs; the host's is bound read-only otherwise */
    if (in->network_none)
        json_array_append_new(mounts, mount_of("/sys", "sysfs", "sysfs",
                                               "nosuid,noexec,nodev,ro"));
    else
        json_array_append_new(mounts, mount_of("/sys", "none", "/sys",
                                               "rbind,nosuid,noexec,nodev,ro"));
    if (!in->network_none)
        for (const char *const *f = (const char *const[]){"/etc/hosts", "/etc/resolv.conf",
                                                          NULL};
             *f; f++)
            if (access(*f, R_OK) == 0)
                json_array_append_new(mounts, mount_of(*f, "none", *f, "bind,ro,nosuid,nodev"));
    for (size_t i = 0; i < in->nbinds; i++)
        json_array_append_new(mounts, mount_of(in->binds[i].destination, "none",
                                               in->binds[i].source,
                                               in->binds[i].read_only ? "rbind,ro,nosuid,nodev"
                                                                      : "rbind,rw,nosuid,nodev"));

    json_t *ns = json_array();
    json_array_append_new(ns, json_pack("{s:s}", "type", "mount"));
    json_array_append_new(ns, json_pack("{s:s}", "type", "ipc"));
    if (in->network_none)
        json_array_append_new(ns, json_pack("{s:s}", "type", "network"));

    json_t *devices = json_array(), *rules = json_array();
    json_array_append_new(rules, json_pack("{s:b,s:s}", "allow", 0, "access", "rwm"));
    for (size_t i = 0; i < in->ndevices; i++) {
        const oci_device_t *d = &in->devices[i];
        char type[2] = {d->type ? d->type : 'c', '\0'};
        json_array_append_new(devices,
                              json_pack("{s:s,s:s,s:I,s:I,s:i,s:I,s:I}", "path", d->path,
                                        "type", type, "major", (json_int_t)d->major, "minor",
                                        (json_int_t)d->minor, "fileMode",
                                        (int)(d->mode ? d->mode : 0666), "uid", (json_int_t)0,
                                        "gid", (json_int_t)0));
        json_array_append_new(rules, json_pack("{s:b,s:s,s:I,s:I,s:s}", "allow", 1, "type",
                                               type, "major", (json_int_t)d->major, "minor",
                                               (json_int_t)d->minor, "access", "rwm"));
    }
    json_t *linux_ = json_pack("{s:o,s:o,s:{s:o}}", "namespaces", ns, "devices", devices,
                               "resources", "devices", rules);
    if (in->cgroups_path)
        json_object_set_new(linux_, "cgroupsPath", json_string(in->cgroups_path));
    json_object_set_new(linux_, "maskedPaths",
                        json_pack("[s,s,s,s,s,s,s,s,s,s]", "/proc/acpi", "/proc/asound",
                                  "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                                  "/sys/firmware", "/proc/scsi"));
    json_object_set_new(linux_, "readonlyPaths",
                        json_pack("[s,s,s,s,s]", "/proc/bus", "/proc/fs", "/proc/irq",
                                  "/proc/sys", "/proc/sysrq-trigger"));
    return json_pack("{s:s,s:o,s:{s:s,s:b},s:o,s:o}", "ociVersion", "1.0.2", "process",
                     process, "root", "path", in->rootfs, "readonly", 0, "mounts", mounts,
                     "linux", linux_);
}

int oci_config_write(const char *dir, const json_t *o, gt_error_t *err)
{
    gt_buf_t p = {0};
    gt_buf_printf(&p, "%s/config.json", dir);
    int rc = json_dump_file(o, p.data, JSON_COMPACT);
    if (rc == 0)
        rc = chmod(p.data, 0600);
    if (rc < 0)
        gt_error_set(err, "internal", "cannot write %s: %s", p.data, strerror(errno));
    gt_buf_free(&p);
    return rc < 0 ? -1 : 0;
}
