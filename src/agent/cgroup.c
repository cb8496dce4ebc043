#include "agent/cgroup.h"

#include "agent/devfilter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* v1 controllers a job's cgroup lives in; memory is required, the others are used where
 * mounted. */
enum { C_MEMORY, C_CPU, C_PIDS, C_DEVICES, NCTL };
static const char *const ctl_names[NCTL] = {"memory", "cpu", "pids", "devices"};

struct cgroup {
    cgroup_version_t version;
    char *dir[NCTL];            /* v2: dir[0] only; v1: NULL where the controller is absent */
    char *procs[NCTL];          /* <dir>/cgroup.procs, precomputed for cgroup_attach */
    bool made[NCTL];            /* directories this handle created (undo on failure) */
    bool dev_filtered;          /* v2: the device filter program is attached */
};

static char *path_join(const char *a, const char *b, const char *c, const char *d)
{
    gt_buf_t buf = {0};
    gt_buf_printf(&buf, "%s", a);
    const char *parts[] = {b, c, d};
    for (int i = 0; i < 3; i++)
        if (parts[i] && *parts[i])
            gt_buf_printf(&buf, "/%s", parts[i]);
    return buf.data;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static int write_file(const char *dir, const char *file, const char *text)
{
    char *p = path_join(dir, file, NULL, NULL);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0) {
        size_t n = strlen(text);
        rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
        int e = errno;
        if (close(fd) < 0 && rc == 0)
            rc = -1;
        else
            errno = e;
    }
    int e = errno;
    free(p);
    errno = e;
    return rc;
}

/* Writes each line with its own write(2) through one open file: a cgroup file such as v1's
 * devices.allow takes one rule per write. */
static int write_lines(const char *dir, const char *file, char *const *lines, size_t n)
{
    char *p = path_join(dir, file, NULL, NULL);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    free(p);
    if (fd < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(lines[i]);
        rc = write(fd, lines[i], len) == (ssize_t)len ? 0 : -1;
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Reads a small file into buf (NUL-terminated); -1 with errno. */
static int read_file(const char *dir, const char *file, char *buf, size_t len)
{
    char *p = path_join(dir, file, NULL, NULL);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    free(p);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* The value after "key " on a line of a flat-keyed file (memory.events, memory.oom_control);
 * -1 if the key is absent. */
static int64_t keyed_value(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, kl) && l[kl] == ' ')
            return strtoll(l + kl + 1, NULL, 10);
    return -1;
}

int cgroup_detect(const cgroup_cfg_t *cfg, cgroup_version_t *out, gt_error_t *err)
{
    if (cfg->version != CGROUP_AUTO) {
        *out = cfg->version;
        return 0;
    }
    char ctls[512];
    if (read_file(cfg->root, "cgroup.controllers", ctls, sizeof(ctls)) == 0 &&
        strstr(ctls, "memory")) {
        *out = CGROUP_V2;
        return 0;
    }
    char *mem = path_join(cfg->root, "memory", NULL, NULL);
    bool v1 = is_dir(mem);
    free(mem);
    if (v1) {
        *out = CGROUP_V1;
        return 0;
    }
    errno = ENOENT;
    return gt_error_set(err, "unavailable",
                        "no cgroup hierarchy with a memory controller under %s (neither a v2 "
                        "cgroup.controllers listing memory nor a v1 memory/ mount); give "
                        "--cgroup-root or run without cgroups",
                        cfg->root);
}

static cgroup_t *cg_new(const cgroup_cfg_t *cfg, const char *name, gt_error_t *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, ".")) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "cgroup name '%s' is not a plain name",
                     name ? name : "");
        return NULL;
    }
    cgroup_t *cg = xcalloc(1, sizeof(*cg));
    if (cgroup_detect(cfg, &cg->version, err) < 0) {
        free(cg);
        return NULL;
    }
    if (cg->version == CGROUP_V2) {
        cg->dir[0] = path_join(cfg->root, cfg->parent, name, NULL);
        cg->procs[0] = path_join(cg->dir[0], "cgroup.procs", NULL, NULL);
        return cg;
    }
    for (int c = 0; c < NCTL; c++) {
        char *mount = path_join(cfg->root, ctl_names[c], NULL, NULL);
        if (is_dir(mount)) {
            cg->dir[c] = path_join(mount, cfg->parent, name, NULL);
            cg->procs[c] = path_join(cg->dir[c], "cgroup.procs", NULL, NULL);
        }
        free(mount);
    }
    return cg;
}

void cgroup_free(cgroup_t *cg)
{
    if (!cg)
        return;
    for (int c = 0; c < NCTL; c++) {
        free(cg->dir[c]);
        free(cg->procs[c]);
    }
    free(cg);
}

int cgroup_destroy(cgroup_t *cg)
{
    if (!cg)
        return 0;
    int rc = 0, e = 0;
    for (int c = 0; c < NCTL; c++)
        if (cg->dir[c] && rmdir(cg->dir[c]) < 0 && errno != ENOENT) {
            rc = -1;
            e = errno;
        }
    cgroup_free(cg);
    if (rc < 0)
        errno = e;
    return rc;
}

/* Removes only what this handle created, then frees it: the undo of a failed create. */
static void cg_undo(cgroup_t *cg)
{
    int e = errno;
    for (int c = 0; c < NCTL; c++)
        if (cg->made[c])
            rmdir(cg->dir[c]);
    cgroup_free(cg);
    errno = e;
}

static const char *const basic_devices[] = {
    "c 1:3 rwm",   /* null */
    "c 1:5 rwm",   /* zero */
    "c 1:7 rwm",   /* full */
    "c 1:8 rwm",   /* random */
    "c 1:9 rwm",   /* urandom */
    "c 5:0 rwm",   /* tty */
    "c 5:2 rwm",   /* ptmx */
    "c 136:* rwm", /* pts */
};

/* "c MAJ:MIN rwm" for a device file; nvidia<N> files that are not (yet) there fall back to
 * the driver's fixed major 195. Returns 0, or -1 (ENOENT) for a file absent and unknown. */
static int device_rule(const char *path, char *rule, size_t len)
{
    struct stat st;
    if (stat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(rule, len, "%c %u:%u rwm", S_ISCHR(st.st_mode) ? 'c' : 'b',
                 major(st.st_rdev), minor(st.st_rdev));
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned n;
    char tail;
    if (sscanf(base, "nvidia%u%c", &n, &tail) == 1 && n < 255) {
        snprintf(rule, len, "c 195:%u rwm", n);
        return 0;
    }
    if (!strcmp(base, "nvidiactl")) {
        snprintf(rule, len, "c 195:255 rwm");
        return 0;
    }
    errno = ENOENT;
    return -1;
}

/* The devices a job may use, as "c MAJ:MIN rwm" rules: the basic ones and its GPU files. */
static size_t device_rules(const cgroup_limits_t *lim, char ***out)
{
    size_t nbasic = sizeof(basic_devices) / sizeof(basic_devices[0]), n = 0;
    char **v = xcalloc(nbasic + lim->ndevices + 1, sizeof(char *));
    for (size_t i = 0; i < nbasic; i++)
        v[n++] = xstrdup(basic_devices[i]);
    for (size_t i = 0; i < lim->ndevices; i++) {
        char rule[64];
        if (device_rule(lim->devices[i], rule, sizeof(rule)) == 0)
            v[n++] = xstrdup(rule); /* absent and not a GPU file: nothing to open anyway */
    }
    *out = v;
    return n;
}

static void free_rules(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* v2: the same rules as a device filter program (devfilter.h), on a real cgroup2 hierarchy;
 * a tree built by a test cannot hold one and stays unfiltered (cgroup_devices_enforced). */
static int filter_v2(cgroup_t *cg, const cgroup_limits_t *lim, gt_error_t *err)
{
    if (!devfilter_on_cgroup2(cg->dir[0]))
        return 0;
    char **text = NULL;
    size_t n = device_rules(lim, &text);
    devfilter_rule_t *rules = xcalloc(n + 1, sizeof(*rules));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = devfilter_parse(text[i], &rules[i], err);
    if (rc == 0)
        rc = devfilter_attach(cg->dir[0], rules, n, err);
    int e = errno;
    free(rules);
    free_rules(text, n);
    errno = e;
    if (rc == 0)
        cg->dev_filtered = true;
    return rc;
}

static int apply_v1(cgroup_t *cg, const cgroup_limits_t *lim, gt_error_t *err)
{
    char v[64];
    const char *what = NULL, *dir = NULL;
    if (lim->memory_bytes > 0) {
        dir = cg->dir[C_MEMORY];
        snprintf(v, sizeof(v), "%" PRId64, lim->memory_bytes);
        what = "memory.limit_in_bytes";
        if (write_file(dir, what, v) < 0)
            goto fail;
        /* With swap accounting, memsw must be capped too or the job swaps instead of dying;
         * the file is absent without swap accounting. */
        char *memsw = path_join(dir, "memory.memsw.limit_in_bytes", NULL, NULL);
        bool has = exists(memsw);
        free(memsw);
        what = "memory.memsw.limit_in_bytes";
        if (has && write_file(dir, what, v) < 0)
            goto fail;
    }
    if (lim->cpu_milli > 0) {
        dir = cg->dir[C_CPU];
        what = "cpu.cfs_quota_us";
        if (!dir) {
            errno = ENOENT;
            goto fail;
        }
        if (write_file(dir, "cpu.cfs_period_us", "100000") < 0)
            goto fail;
        snprintf(v, sizeof(v), "%" PRId64, lim->cpu_milli * 100);
        if (write_file(dir, what, v) < 0)
            goto fail;
    }
    if (lim->pids_max > 0) {
        dir = cg->dir[C_PIDS];
        what = "pids.max";
        if (!dir) {
            errno = ENOENT;
            goto fail;
        }
        snprintf(v, sizeof(v), "%" PRId64, lim->pids_max);
        if (write_file(dir, what, v) < 0)
            goto fail;
    }
    if (lim->restrict_devices) {
        dir = cg->dir[C_DEVICES];
        what = "devices.deny";
        if (!dir) {
            errno = ENOENT;
            goto fail;
        }
        if (write_file(dir, what, "a") < 0)
            goto fail;
        what = "devices.allow";
        char **rules = NULL;
        size_t n = device_rules(lim, &rules);
        int rc = write_lines(dir, what, rules, n);
        int e = errno;
        free_rules(rules, n);
        errno = e;
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    return gt_error_set(err, "cgroup", "cannot set %s in %s: %s", what,
                        dir ? dir : "(controller not mounted)", strerror(errno));
}

static int apply_v2(cgroup_t *cg, const cgroup_limits_t *lim, gt_error_t *err)
{
    char v[64];
    const char *dir = cg->dir[0], *what = NULL;
    if (lim->memory_bytes > 0) {
        snprintf(v, sizeof(v), "%" PRId64, lim->memory_bytes);
        what = "memory.max";
        if (write_file(dir, what, v) < 0)
            goto fail;
        /* Best effort: no swapping past the limit; the whole job dies together on OOM. */
        char *swap = path_join(dir, "memory.swap.max", NULL, NULL);
        if (exists(swap))
            (void)write_file(dir, "memory.swap.max", "0");
        free(swap);
        char *group = path_join(dir, "memory.oom.group", NULL, NULL);
        if (exists(group))
            (void)write_file(dir, "memory.oom.group", "1");
        free(group);
    }
    if (lim->cpu_milli > 0) {
        snprintf(v, sizeof(v), "%" PRId64 " 100000", lim->cpu_milli * 100);
        what = "cpu.max";
        if (write_file(dir, what, v) < 0)
            goto fail;
    }
    if (lim->pids_max > 0) {
        snprintf(v, sizeof(v), "%" PRId64, lim->pids_max);
        what = "pids.max";
        if (write_file(dir, what, v) < 0)
            goto fail;
    }
    if (lim->restrict_devices)
        return filter_v2(cg, lim, err);
    return 0;
fail:
    return gt_error_set(err, "cgroup", "cannot set %s in %s: %s", what, dir, strerror(errno));
}

/* v2: a child's controllers must be enabled in its ancestors' cgroup.subtree_control. Each
 * controller is written alone so that one the kernel lacks does not stop the others. */
static void enable_v2_controllers(const cgroup_cfg_t *cfg)
{
    char *parent = path_join(cfg->root, cfg->parent, NULL, NULL);
    const char *dirs[] = {cfg->root, parent};
    for (int d = 0; d < 2; d++) {
        if (d == 1 && !strcmp(parent, cfg->root))
            break;
        char have[512] = "";
        (void)read_file(dirs[d], "cgroup.subtree_control", have, sizeof(have));
        for (const char *c = "memory\0cpu\0pids\0"; *c; c += strlen(c) + 1) {
            if (strstr(have, c))
                continue;
            char w[32];
            snprintf(w, sizeof(w), "+%s", c);
            (void)write_file(dirs[d], "cgroup.subtree_control", w);
        }
    }
    free(parent);
}

cgroup_t *cgroup_create(const cgroup_cfg_t *cfg, const char *name, const cgroup_limits_t *lim,
                        gt_error_t *err)
{
    cgroup_t *cg = cg_new(cfg, name, err);
    if (!cg)
        return NULL;
    if (cg->version == CGROUP_V1 && !cg->dir[C_MEMORY]) {
        errno = ENOENT;
        gt_error_set(err, "unavailable", "no v1 memory controller under %s", cfg->root);
        goto undo;
    }
    if (cg->version == CGROUP_V1) {
        /* Memory always (limit, OOM report, the list of the job's processes); the others only
         * for a limit: each hierarchy is a directory to make, join and remove per job. */
        bool need[NCTL] = {[C_MEMORY] = true,
                           [C_CPU] = lim && lim->cpu_milli > 0,
                           [C_PIDS] = lim && lim->pids_max > 0,
                           [C_DEVICES] = lim && lim->restrict_devices};
        for (int c = 0; c < NCTL; c++)
            if (!need[c]) {
                free(cg->dir[c]);
                free(cg->procs[c]);
                cg->dir[c] = cg->procs[c] = NULL;
            }
    }
    if (cg->version == CGROUP_V2) {
        char *parent = path_join(cfg->root, cfg->parent, NULL, NULL);
        int rc = gt_mkdirs(parent, 0755, NULL);
        int e = errno;
        free(parent);
        if (rc < 0) {
            errno = e;
            gt_error_set(err, "cgroup", "cannot create %s/%s: %s", cfg->root,
                         cfg->parent ? cfg->parent : "", strerror(e));
            goto undo;
        }
        enable_v2_controllers(cfg);
    }
    for (int c = 0; c < NCTL; c++) {
        if (!cg->dir[c])
            continue;
        if (gt_mkdirs(cg->dir[c], 0755, &cg->made[c]) < 0) {
            gt_error_set(err, "cgroup", "cannot create cgroup %s: %s", cg->dir[c],
                         strerror(errno));
            goto undo;
        }
    }
    if (lim && (cg->version == CGROUP_V1 ? apply_v1(cg, lim, err) : apply_v2(cg, lim, err)) < 0)
        goto undo;
    return cg;
undo:
    cg_undo(cg);
    return NULL;
}

cgroup_t *cgroup_open(const cgroup_cfg_t *cfg, const char *name, gt_error_t *err)
{
    cgroup_t *cg = cg_new(cfg, name, err);
    if (!cg)
        return NULL;
    int main_ctl = cg->version == CGROUP_V1 ? C_MEMORY : 0;
    if (!cg->dir[main_ctl] || !is_dir(cg->dir[main_ctl])) {
        gt_error_set(err, "not_found", "cgroup %s is not there",
                     cg->dir[main_ctl] ? cg->dir[main_ctl] : name);
        cgroup_free(cg);
        errno = ENOENT;
        return NULL;
    }
    return cg;
}

int cgroup_attach(const cgroup_t *cg, pid_t pid, gt_error_t *err)
{
    char num[24], *p = num + sizeof(num);
    unsigned long v = (unsigned long)pid;
    *--p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10));
    for (int c = 0; c < NCTL; c++) {
        if (!cg->procs[c])
            continue;
        int fd = open(cg->procs[c], O_WRONLY | O_CLOEXEC);
        if (fd < 0 && cg->version == CGROUP_V2)   /* a test's tree: plain files */
            fd = open(cg->procs[c], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ssize_t n = fd >= 0 ? write(fd, p, strlen(p)) : -1;
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (n < 0) {
            errno = e;
            if (err)
                gt_error_set(err, "cgroup", "cannot move process %d into %s: %s", (int)pid,
                             cg->procs[c], strerror(e));
            return -1;
        }
    }
    return 0;
}

/* Appends the pids in dir/cgroup.procs and in every cgroup below dir (a container runtime
 * makes its own cgroup inside the job's). */
static int pids_below(const char *dir, pid_t **arr, size_t *cap, size_t *cnt, int depth)
{
    char *procs = path_join(dir, "cgroup.procs", NULL, NULL);
    FILE *f = fopen(procs, "re");
    free(procs);
    if (!f)
        return -1;
    long v;
    while (fscanf(f, "%ld", &v) == 1) {
        GT_GROW(*arr, *cap, *cnt + 1);
        (*arr)[(*cnt)++] = (pid_t)v;
    }
    fclose(f);
    DIR *d = depth < 8 ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_type == DT_DIR && de->d_name[0] != '.') {
            char *sub = path_join(dir, de->d_name, NULL, NULL);
            pids_below(sub, arr, cap, cnt, depth + 1);
            free(sub);
        }
    if (d)
        closedir(d);
    return 0;
}

int cgroup_pids(const cgroup_t *cg, pid_t **out, size_t *n, gt_error_t *err)
{
    const char *dir = cg->dir[cg->version == CGROUP_V1 ? C_MEMORY : 0];
    pid_t *arr = NULL;
    size_t cap = 0, cnt = 0;
    if (pids_below(dir, &arr, &cap, &cnt, 0) < 0) {
        free(arr);
        return gt_error_set(err, "cgroup", "cannot read %s/cgroup.procs: %s", dir,
                            strerror(errno));
    }
    *out = arr;
    *n = cnt;
    return 0;
}

int cgroup_signal_all(const cgroup_t *cg, int sig)
{
    pid_t *pids;
    size_t n;
    if (cgroup_pids(cg, &pids, &n, NULL) < 0)
        return -1;
    int count = 0;
    for (size_t i = 0; i < n; i++)
        if (pids[i] > 0 && kill(pids[i], sig) == 0)
            count++;
    free(pids);
    return count;
}

bool cgroup_oom_killed(const cgroup_t *cg)
{
    char text[1024];
    if (cg->version == CGROUP_V2)
        return read_file(cg->dir[0], "memory.events", text, sizeof(text)) == 0 &&
               keyed_value(text, "oom_kill") > 0;
    if (read_file(cg->dir[C_MEMORY], "memory.oom_control", text, sizeof(text)) == 0) {
        int64_t kills = keyed_value(text, "oom_kill");
        if (kills >= 0)
            return kills > 0;
    }
    return read_file(cg->dir[C_MEMORY], "memory.failcnt", text, sizeof(text)) == 0 &&
           strtoll(text, NULL, 10) > 0;
}

bool cgroup_hit_memory_limit(const cgroup_t *cg)
{
    char text[1024];
    if (cg->version == CGROUP_V2)
        return read_file(cg->dir[0], "memory.events", text, sizeof(text)) == 0 &&
               keyed_value(text, "max") > 0;
    if (read_file(cg->dir[C_MEMORY], "memory.failcnt", text, sizeof(text)) == 0 &&
        strtoll(text, NULL, 10) > 0)
        return true;
    /* Some kernels leave failcnt at 0 when the charge fails below the group (a container
     * runtime's cgroup inside the job's, whose own OOM count goes with it): the peak then
     * says it. */
    char lim[64], peak[64];
    if (read_file(cg->dir[C_MEMORY], "memory.limit_in_bytes", lim, sizeof(lim)) < 0 ||
        read_file(cg->dir[C_MEMORY], "memory.max_usage_in_bytes", peak, sizeof(peak)) < 0)
        return false;
    unsigned long long l = strtoull(lim, NULL, 10), p = strtoull(peak, NULL, 10);
    return l > 0 && l < (1ULL << 62) && p >= l;
}

bool cgroup_devices_enforced(const cgroup_t *cg)
{
    if (cg->version == CGROUP_V2)
        return cg->dev_filtered;
    return cg->dir[C_DEVICES] != NULL;
}

char *cgroup_v2_mount(void)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    char line[1024], dir[512], fs[64], type[64];
    char *found = NULL;
    while (f && !found && fgets(line, sizeof(line), f))
        if (sscanf(line, "%63s %511s %63s", fs, dir, type) == 3 && !strcmp(type, "cgroup2"))
            found = xstrdup(dir);
    if (f)
        fclose(f);
    return found;
}

cgroup_version_t cgroup_version(const cgroup_t *cg)
{
    return cg->version;
}

const char *cgroup_path(const cgroup_t *cg, const char *controller)
{
    if (cg->version == CGROUP_V2)
        return cg->dir[0];
    for (int c = 0; c < NCTL; c++)
        if (controller && !strcmp(controller, ctl_names[c]))
            return cg->dir[c];
    return NULL;
}
