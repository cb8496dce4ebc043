/* runtime_oci.c: the OCI container runtime (runtime.h): the job runs in a container made from
 * its image by runc or crun, as the supervisor's child.
 *
 * prepare: the image from the node's cache (image.h: fetched and unpacked when missing, the
 *   job's phase is "pulling" meanwhile), a mount namespace of the supervisor's own (nothing
 *   mounted here outlives it, even killed), an overlay over the image's unpacked root (lower:
 *   the shared cache, read-only; upper and work: the job's bundle directory), the image's Env
 *   and WorkingDir for the job, the GANTRY_*_DIR paths as the container sees them.
 * start: the bundle's config.json (oci_config.h), then `RUNTIME --root STATE run --bundle B
 *   gantry-JOB-INC` in the foreground: the runtime process is the pid the supervisor waits for
 *   (in its own process group; runc and crun forward the signals they get to the container)
 *   and its exit status is the container's (128+N for a container killed by signal N). The
 *   container's cgroup is <the job's cgroup>/ctr, so the job's limits hold it and the
 *   supervisor's signals and OOM check (cgroup.h, which looks below the job's cgroup) see it.
 *   crun 1.8 refuses a hybrid cgroup layout: in the supervisor's mount namespace the cgroup2
 *   mount is taken away first (it is the node's only there).
 * cleanup: `RUNTIME delete -f`, the overlay unmounted, the bundle removed, the cgroup
 *   directories the runtime left in hierarchies the job's cgroup does not use, the image's
 *   hold released. */
#include "agent/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/gpu_edits.h"
#include "agent/image.h"
#include "agent/oci_config.h"

typedef struct oci {
    image_t im;
    bool have_image, mounted, started;
    char *bundle, *rootfs, *upper, *work;
    char *state_root;              /* the runtime's --root */
    char *id;                      /* the container's name */
    char *runtime;                 /* program */
    bool crun;
    char *cg_job;                  /* the job's cgroup below each hierarchy's root */
    char *cg_ctr;                  /* the container's: cg_job/ctr */
    char *workdir;
    char **base_env;
    char *argv[8];                 /* the runtime's command line (built before the vfork) */
    char **args;                   /* the container's command (NULL: the job's own) */
    gpu_edits_t gpu;               /* the job's GPUs in the container (gpu_edits.h) */
} oci_t;

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void on_progress(uint64_t bytes, void *arg)
{
    runtime_job_t *job = arg;
    if (job->progress)
        job->progress(job, bytes);
}

/* Where the cgroup2 file system is mounted when it is not the only hierarchy (hybrid: the v1
 * controllers at /sys/fs/cgroup, cgroup2 at /sys/fs/cgroup/unified); NULL otherwise. */
static char *hybrid_cgroup2_mount(void)
{
    char *v2 = cgroup_v2_mount();
    if (v2 && !strcmp(v2, "/sys/fs/cgroup")) {
        free(v2);
        return NULL;
    }
    return v2;
}

/* True when none of the job's GPUs has a device file (<dev_dir>/nvidia<N> missing): GPUs an
 * agent was told to declare (--gpus N without NVML). */
static bool gpu_files_absent(const supervisor_spec_t *s)
{
    for (size_t i = 0; i < s->ngpus; i++) {
        char *p = gt_strfmt("%s/nvidia%d", s->dev_dir ? s->dev_dir : "/dev", s->gpus[i]);
        struct stat sb;
        int rc = lstat(p, &sb);
        free(p);
        if (rc == 0 || errno != ENOENT)
            return false;
    }
    return true;
}

static bool has_opt(char **opts, const char *o)
{
    for (; opts && *opts; opts++)
        if (!strcmp(*opts, o))
            return true;
    return false;
}

static int oci_prepare(runtime_job_t *job, void **priv, gt_error_t *err)
{
    const supervisor_spec_t *s = job->spec;
    oci_t *o = xcalloc(1, sizeof(*o));
    *priv = o;
    if (geteuid() != 0)
        return gt_error_set(err, "failed",
                            "container jobs need the agent to run as root (it runs as uid %d)",
                            (int)geteuid());
    const char *rt = s->oci_runtime && *s->oci_runtime ? s->oci_runtime : "runc";
    o->runtime = xstrdup(rt);
    const char *base = strrchr(rt, '/') ? strrchr(rt, '/') + 1 : rt;
    o->crun = !strncmp(base, "crun", 4);

    /* The image: may take minutes; the supervisor said "pulling" already. */
    char *cache = s->image_cache ? xstrdup(s->image_cache) : gt_strfmt("%s/images", s->state_dir);
    image_cfg_t icfg = {.cache_dir = cache,
                        .max_bytes = s->image_cache_max > 0 ? (uint64_t)s->image_cache_max : 0,
                        .registries_conf = s->registries_conf,
                        .auth_file = s->auth_file};
    gt_error_t ierr = {0};
    int rc = image_get(&icfg, s->image, on_progress, job, &o->im, &ierr);
    free(cache);
    if (rc < 0)
        return gt_error_set(err, "image_pull", "cannot fetch image %s: %s", s->image, ierr.msg);
    o->have_image = true;
    snprintf(job->image_digest, sizeof(job->image_digest), "%s", o->im.digest);

    /* Everything mounted from here on is this supervisor's alone and goes with it. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return gt_error_set(err, "failed", "cannot make a mount namespace: %s",
                            strerror(errno));
    if (o->crun) {
        char *v2 = hybrid_cgroup2_mount();
        if (v2 && umount2(v2, MNT_DETACH) < 0) {
            gt_error_set(err, "failed", "cannot unmount %s for crun: %s", v2, strerror(errno));
            free(v2);
            return -1;
        }
        free(v2);
    }
    o->bundle = gt_strfmt("%s/bundle", job->dir);
    o->rootfs = gt_strfmt("%s/rootfs", o->bundle);
    o->upper = gt_strfmt("%s/upper", o->bundle);
    o->work = gt_strfmt("%s/work", o->bundle);
    if (mkdir(o->bundle, 0700) < 0 || mkdir(o->rootfs, 0755) < 0 || mkdir(o->upper, 0755) < 0 ||
        mkdir(o->work, 0700) < 0)
        return gt_error_set(err, "failed", "cannot make the bundle %s: %s", o->bundle,
                            strerror(errno));
    char *opts = gt_strfmt("lowerdir=%s,upperdir=%s,workdir=%s", o->im.rootfs, o->upper, o->work);
    rc = mount("overlay", o->rootfs, "overlay", 0, opts);
    free(opts);
    if (rc < 0)
        return gt_error_set(err, "failed", "cannot mount the image's overlay on %s: %s",
                            o->rootfs, strerror(errno));
    o->mounted = true;

    const char *parent = s->cgroup && s->cgroup->parent ? s->cgroup->parent : "gantry";
    o->cg_job = gt_strfmt("/%s/job-%" PRId64 ".%d", parent, s->job_id, s->incarnation);
    o->cg_ctr = gt_strfmt("%s/ctr", o->cg_job);
    o->state_root = gt_strfmt("%s/oci/%s", s->state_dir, base);
    if (gt_mkdirs(o->state_root, 0700, NULL) < 0)
        return gt_error_set(err, "failed", "cannot create %s: %s", o->state_root,
                            strerror(errno));
    o->id = gt_strfmt("gantry-%" PRId64 "-%d", s->job_id, s->incarnation);

    /* The job's command; the image's Entrypoint and Cmd only when it gives none. */
    if (!s->argv || !s->argv[0]) {
        size_t n = 0;
        for (char **a = o->im.entrypoint; a && *a; a++)
            n++;
        for (char **a = o->im.cmd; a && *a; a++)
            n++;
        if (n == 0)
            return gt_error_set(err, "failed", "the job has no command and image %s neither "
                                "(no Entrypoint, no Cmd)", s->image);
        o->args = xcalloc(n + 1, sizeof(char *));
        n = 0;
        for (char **a = o->im.entrypoint; a && *a; a++)
            o->args[n++] = xstrdup(*a);
        for (char **a = o->im.cmd; a && *a; a++)
            o->args[n++] = xstrdup(*a);
    }

    /* The job's GPUs: CDI specs, else the driver's files. A node whose GPUs are only declared
     * (no device files at all: tests, CPU machines) gives the container none. */
    if (s->ngpus && !gpu_files_absent(s)) {
        gt_error_t gerr = {0};
        if (gpu_edits_for(s->cdi_dir, s->dev_dir, s->gpus, s->ngpus, &o->gpu, &gerr) < 0)
            return gt_error_set(err, "failed", "the job's GPUs: %s", gerr.msg);
    }
    job->gpus_renumbered = true;
    size_t ne = 0, nc = 0;
    while (o->im.env && o->im.env[ne])
        ne++;
    while (o->gpu.env && o->gpu.env[nc])
        nc++;
    o->base_env = xcalloc(ne + nc + 1, sizeof(char *));
    for (size_t i = 0; i < ne; i++)
        o->base_env[i] = xstrdup(o->im.env[i]);
    for (size_t i = 0; i < nc; i++)
        o->base_env[ne + i] = xstrdup(o->gpu.env[i]);
    job->base_env = o->base_env;
    o->workdir = xstrdup(s->workdir     ? s->workdir
                         : o->im.workdir && *o->im.workdir ? o->im.workdir
                                                           : "/");
    job->workdir = o->workdir;
    job->seen_checkpoint_dir = "/gantry/checkpoint";
    job->seen_output_dir = "/gantry/output";
    job->seen_scratch_dir = "/gantry/scratch";
    if (job->metrics_file)
        job->seen_metrics_file = "/gantry/metrics.jsonl";
    return 0;
}

/* What the vfork'ed child needs (it may not allocate). */
typedef struct oci_spawn {
    const runtime_job_t *job;
    const oci_t *o;
} oci_spawn_t;

/* The runtime itself runs as root, outside the job's cgroup (it makes the container's below
 * it), with the job's logs as its stdout and stderr: the container inherits them. */
static void oci_child(void *arg, int errfd)
{
    const oci_spawn_t *sp = arg;
    const oci_t *o = sp->o;
    runtime_child_setup(sp->job, false, errfd);
    runtime_child_signals();
    execvp(o->argv[0], o->argv);
    char what[300];
    snprintf(what, sizeof(what), "cannot run the OCI runtime '%s'", o->argv[0]);
    runtime_child_fail(errfd, what, errno);
}

static pid_t oci_start(runtime_job_t *job, void *priv, gt_error_t *err)
{
    const supervisor_spec_t *s = job->spec;
    oci_t *o = priv;
    size_t nb = 0, cap = 0, ndev = 0;
    oci_bind_t *binds = NULL;
    oci_device_t *devs = NULL;
    GT_GROW(binds, cap, 4 + s->nmounts);
    if (job->metrics_file) /* a file bound on a file: the job appends to the node's copy */
        binds[nb++] = (oci_bind_t){.source = job->metrics_file,
                                   .destination = "/gantry/metrics.jsonl"};
    binds[nb++] = (oci_bind_t){.source = job->checkpoint_dir,
                               .destination = "/gantry/checkpoint"};
    if (job->output_dir)
        binds[nb++] = (oci_bind_t){.source = job->output_dir, .destination = "/gantry/output"};
    if (job->scratch_dir)
        binds[nb++] = (oci_bind_t){.source = job->scratch_dir,
                                   .destination = "/gantry/scratch"};
    for (size_t i = 0; i < job->nmounts; i++) {
        GT_GROW(binds, cap, nb + 1);
        binds[nb++] = (oci_bind_t){.source = job->mounts[i].source,
                                   .destination = job->mounts[i].path,
                                   .read_only = job->mounts[i].read_only};
    }
    devs = xcalloc(o->gpu.ndevices + 1, sizeof(*devs));
    for (size_t i = 0; i < o->gpu.ndevices; i++) {
        const gpu_device_node_t *d = &o->gpu.devices[i];
        devs[ndev++] = (oci_device_t){.path = d->path, .type = d->type ? d->type : 'c',
                                      .major = d->major, .minor = d->minor, .mode = d->mode};
    }
    for (size_t i = 0; i < o->gpu.nmounts; i++) {
        const gpu_mount_t *m = &o->gpu.mounts[i];
        GT_GROW(binds, cap, nb + 1);
        binds[nb++] = (oci_bind_t){.source = m->host_path, .destination = m->container_path,
                                   .read_only = !has_opt(m->options, "rw")};
    }
    uid_t uid = job->switch_user ? job->pw->pw_uid : geteuid();
    gid_t gid = job->switch_user ? job->pw->pw_gid : getegid();
    oci_config_in_t in = {.rootfs = o->rootfs,
                          .args = o->args ? o->args : s->argv,
                          .env = job->envp,
                          .cwd = job->workdir,
                          .uid = uid,
                          .gid = gid,
                          .groups = job->switch_user ? job->groups : NULL,
                          .ngroups = job->switch_user ? job->ngroups : 0,
                          .cgroups_path = o->cg_ctr,
                          .network_none = s->network_none,
                          .binds = binds,
                          .nbinds = nb,
                          .devices = devs,
                          .ndevices = ndev};
    pid_t pid = -1;
    json_t *cfg = oci_config_build(&in, err);
    if (!cfg || oci_config_write(o->bundle, cfg, err) < 0)
        goto out;
    o->argv[0] = o->runtime;
    o->argv[1] = "--root";
    o->argv[2] = o->state_root;
    o->argv[3] = "run";
    o->argv[4] = "--bundle";
    o->argv[5] = o->bundle;
    o->argv[6] = o->id;
    o->argv[7] = NULL;
    oci_spawn_t sp = {.job = job, .o = o};
    o->started = true;
    pid = runtime_spawn(oci_child, &sp, err);
out:
    json_decref(cfg);
    free(binds);
    free(devs);
    return pid;
}

/* runc and crun exit with 128+N when the container's process was killed by signal N. */
static void oci_exit_status(void *priv, int status, int *exit_code, int *sig)
{
    (void)priv;
    if (WIFEXITED(status)) {
        int c = WEXITSTATUS(status);
        if (c > 128 && c < 128 + 65)
            *sig = c - 128;
        else
            *exit_code = c;
    } else if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
    }
}

/* Runs the runtime's delete -f for the container; waits at most 10 s. */
static void runtime_delete(oci_t *o)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        runtime_child_signals();
        execlp(o->runtime, o->runtime, "--root", o->state_root, "delete", "-f", o->id,
               (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        gt_reap_within(pid, 10);
}

/* The cgroup directories the runtime made for the container in every hierarchy (it makes
 * the job's level too in hierarchies the job's cgroup does not use). The job's own are empty
 * by now; cgroup_destroy takes an already removed one in its stride. */
static void remove_cgroups(oci_t *o)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    char line[1024], dir[512], fs[64], type[64];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%63s %511s %63s", fs, dir, type) == 3 &&
            (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2"))) {
            char *ctr = gt_strfmt("%s%s", dir, o->cg_ctr),
                 *jobd = gt_strfmt("%s%s", dir, o->cg_job);
            rmdir(ctr);
            rmdir(jobd);
            free(ctr);
            free(jobd);
        }
    if (f)
        fclose(f);
}

static void oci_cleanup(runtime_job_t *job, void *priv)
{
    (void)job;
    oci_t *o = priv;
    if (!o)
        return;
    if (o->started)
        runtime_delete(o);
    if (o->cg_ctr)
        remove_cgroups(o);
    if (o->mounted)
        umount2(o->rootfs, MNT_DETACH);
    if (o->bundle)
        runtime_remove_tree(o->bundle);
    if (o->have_image)
        image_release(&o->im);
    gpu_edits_free(&o->gpu);
    free(o->bundle);
    free(o->rootfs);
    free(o->upper);
    free(o->work);
    free(o->state_root);
    free(o->id);
    free(o->runtime);
    free(o->cg_job);
    free(o->cg_ctr);
    free(o->workdir);
    strv_free(o->base_env);
    strv_free(o->args);
    free(o);
}

const runtime_ops_t runtime_oci = {
    .name = "oci",
    .slow_prepare = true,
    .own_device_rules = true,
    .prepare = oci_prepare,
    .start = oci_start,
    .exit_status = oci_exit_status,
    .cleanup = oci_cleanup,
};
