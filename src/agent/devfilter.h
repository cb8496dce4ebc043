/* devfilter.h: device access control on cgroup v2, where there is no devices controller: an
 * eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, built here from a list of rules, that lets
 * a cgroup's processes open (read, write, mknod) the listed devices and nothing else.
 *
 * Rules use the v1 devices.allow syntax, so one list serves both versions:
 *   "c 1:3 rwm"    character device 1:3, read write mknod
 *   "c 136:* rw"   any minor;  "b *:* m" any block device, mknod only;  "a" everything
 * The program is attached with BPF_F_ALLOW_MULTI: programs that a parent cgroup carries (such
 * as systemd's) still run, and a device must pass them all. It needs root (CAP_SYS_ADMIN) and
 * a kernel with CONFIG_CGROUP_BPF; it stays attached until the cgroup is removed. */
#ifndef GANTRY_AGENT_DEVFILTER_H
#define GANTRY_AGENT_DEVFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

enum {
    DEVFILTER_MKNOD = 1, /* the kernel's BPF_DEVCG_ACC_* bits */
    DEVFILTER_READ = 2,
    DEVFILTER_WRITE = 4,
};

typedef struct devfilter_rule {
    char type;           /* 'c' character, 'b' block, 'a' any */
    int64_t major, minor; /* -1 = any */
    unsigned access;     /* DEVFILTER_* bits */
} devfilter_rule_t;

/* Parses one rule ("c 1:3 rwm"). -1 with EINVAL and err on anything else. */
int devfilter_parse(const char *text, devfilter_rule_t *out, gt_error_t *err);

/* Whether dir is on a cgroup2 file system (a real v2 hierarchy, not a tree built by a test). */
bool devfilter_on_cgroup2(const char *dir);

/* Loads a program allowing exactly rules[0..n) and attaches it to the cgroup at dir. -1 with
 * errno and err (EPERM without root, EINVAL without cgroup BPF, ...); nothing attached then. */
int devfilter_attach(const char *dir, const devfilter_rule_t *rules, size_t n, gt_error_t *err);

#endif
