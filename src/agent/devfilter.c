/* devfilter.c: a cgroup v2 device filter as a hand-assembled eBPF program (see devfilter.h).
 *
 * The program reads struct bpf_cgroup_dev_ctx {access_type = access << 16 | type, major,
 * minor} and tries the rules in order; each rule is a block of compare-and-skip jumps that
 * falls through to "return 1" (allow) when every field matches; after the last rule it
 * returns 0 (deny). No helper functions and no maps: the verifier accepts it on any kernel
 * with cgroup device programs (4.15 and later). */
#include "agent/devfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int sys_bpf(int cmd, union bpf_attr *attr)
{
    return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int devfilter_parse(const char *text, devfilter_rule_t *out, gt_error_t *err)
{
    devfilter_rule_t r = {.major = -1, .minor = -1};
    const char *p = text;
    if (*p != 'a' && *p != 'b' && *p != 'c')
        goto bad;
    r.type = *p++;
    if (r.type == 'a' && *p == '\0') {
        r.access = DEVFILTER_MKNOD | DEVFILTER_READ | DEVFILTER_WRITE;
        *out = r;
        return 0;
    }
    if (*p++ != ' ')
        goto bad;
    int64_t *num[2] = {&r.major, &r.minor};
    for (int i = 0; i < 2; i++) {
        if (*p == '*') {
            p++;
        } else {
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v > (1 << 20))
                goto bad;
            *num[i] = v;
            p = end;
        }
        if (*p++ != (i == 0 ? ':' : ' '))
            goto bad;
    }
    for (; *p; p++) {
        unsigned bit = *p == 'r' ? DEVFILTER_READ : *p == 'w' ? DEVFILTER_WRITE
                     : *p == 'm' ? DEVFILTER_MKNOD : 0;
        if (!bit || (r.access & bit))
            goto bad;
        r.access |= bit;
    }
    if (!r.access)
        goto bad;
    *out = r;
    return 0;
bad:
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "bad device rule '%s' (expected like \"c 195:0 rwm\" or \"c 136:* rw\")",
                        text);
}

bool devfilter_on_cgroup2(const char *dir)
{
    struct statfs sf;
    return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* ---- the program ---------------------------------------------------------------------------- */

typedef struct prog {
    struct bpf_insn *v;
    size_t n, cap;
} prog_t;

static void emit(prog_t *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    GT_GROW(p->v, p->cap, p->n + 1);
    p->v[p->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off,
                                     .imm = imm};
}

/* Registers after the prologue: r2 type, r3 access, r4 major, r5 minor; r1 scratch.
 * Returns false when the rule matches everything: what would follow is unreachable, which the
 * verifier refuses. */
static bool emit_rule(prog_t *p, const devfilter_rule_t *r)
{
    size_t start = p->n;
    /* Each skip jumps to the end of this block; offsets are fixed up below. */
    if (r->type != 'a')
        emit(p, BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
             r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
    unsigned all = DEVFILTER_MKNOD | DEVFILTER_READ | DEVFILTER_WRITE;
    if ((r->access & all) != all) {
        emit(p, BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0);                   /* w1 = access */
        emit(p, BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, (int32_t)(all & ~r->access)); /* not allowed */
        emit(p, BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0);
    }
    if (r->major >= 0)
        emit(p, BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major);
    if (r->minor >= 0)
        emit(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor);
    bool conditional = p->n > start;
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1); /* allow */
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (size_t i = start; i < p->n; i++)
        if (BPF_CLASS(p->v[i].code) == BPF_JMP && BPF_OP(p->v[i].code) == BPF_JNE)
            p->v[i].off = (int16_t)(p->n - i - 1);
    return conditional;
}

static void build(prog_t *p, const devfilter_rule_t *rules, size_t n)
{
    emit(p, BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);      /* r2 = ctx->access_type */
    emit(p, BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF); /* w2 = type */
    emit(p, BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0);      /* r3 = ctx->access_type */
    emit(p, BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);     /* w3 = access */
    emit(p, BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0);      /* r4 = ctx->major */
    emit(p, BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0);      /* r5 = ctx->minor */
    for (size_t i = 0; i < n; i++)
        if (!emit_rule(p, &rules[i]))
            return;
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0); /* deny */
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* log NULL: no verifier log (a log that overflows its buffer fails the load with ENOSPC, and
 * every rule adds lines to it); with a log, only to say why a load failed. */
static int load(const prog_t *p, char *log, size_t loglen)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)p->v;
    a.insn_cnt = (uint32_t)p->n;
    a.license = (uint64_t)(uintptr_t)"GPL"; /* checked by GPL-only helpers; none is called */
    if (log) {
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = (uint32_t)loglen;
        a.log_level = 1;
    }
    return sys_bpf(BPF_PROG_LOAD, &a);
}

int devfilter_attach(const char *dir, const devfilter_rule_t *rules, size_t n, gt_error_t *err)
{
    prog_t p = {0};
    build(&p, rules, n);
    int rc = -1, cfd = -1;
    char *log = NULL;
    int pfd = load(&p, NULL, 0);
    if (pfd < 0 && errno == EPERM) {
        /* Kernels before 5.11 charge BPF programs to RLIMIT_MEMLOCK. */
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0)
            pfd = load(&p, NULL, 0);
    }
    if (pfd < 0) {
        int e = errno;
        size_t loglen = 1 << 20;
        log = xcalloc(1, loglen);
        int again = load(&p, log, loglen);
        if (again >= 0) { /* it loads now: keep the first answer */
            close(again);
            log[0] = '\0';
        }
        log[loglen - 1] = '\0';
        char *end = log + strlen(log); /* the verifier's last line says why */
        while (end > log && end[-1] == '\n')
            *--end = '\0';
        char *last = strrchr(log, '\n');
        gt_error_set(err, "cgroup", "cannot load the device filter for %s: %s%s%s", dir,
                     strerror(e), *log ? "; verifier: " : "", last ? last + 1 : log);
        errno = e;
        goto out;
    }
    cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0) {
        gt_error_set(err, "cgroup", "cannot open %s: %s", dir, strerror(errno));
        goto out;
    }
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cfd;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0) {
        gt_error_set(err, "cgroup", "cannot attach the device filter to %s: %s", dir,
                     strerror(errno));
        goto out;
    }
    rc = 0;
out : {
    int e = errno;
    if (cfd >= 0)
        close(cfd);
    if (pfd >= 0)
        close(pfd); /* the attachment keeps the program */
    free(log);
    free(p.v);
    errno = e;
    return rc;
}
}
