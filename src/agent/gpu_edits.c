/* gpu_edits.c: a container's GPU edits from the node's CDI specs, else from its driver
 * (gpu_edits.h). Specs are read with jansson (*.json) or libyaml (*.yaml, *.yml:
 * common/yaml_json.h turns them into the same JSON values), so one walk serves both. */
#include "agent/gpu_edits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/yaml_json.h"

#define CDI_KIND "nvidia.com/gpu"

/* ---- building the result ---- */

typedef struct builder {
    gpu_edits_t *e;
    size_t dcap, mcap, ecap, nenv;
} builder_t;

static const char *const ro_bind[] = {"ro", "nosuid", "nodev", "bind", NULL};

static bool has_device(const gpu_edits_t *e, const char *path) {
    for (size_t i = 0; i < e->ndevices; i++)
        if (!strcmp(e->devices[i].path, path))
            return true;
    return false;
}

static bool has_mount(const gpu_edits_t *e, const char *container_path) {
    for (size_t i = 0; i < e->nmounts; i++)
        if (!strcmp(e->mounts[i].container_path, container_path))
            return true;
    return false;
}

/* A device node; the first one given for a container path wins (spec-wide before device). */
static void add_device(builder_t *b, const char *path, const char *host_path, char type, long major,
                       long minor, unsigned mode) {
    if (has_device(b->e, path))
        return;
    GT_GROW(b->e->devices, b->dcap, b->e->ndevices + 1);
    b->e->devices[b->e->ndevices++] = (gpu_device_node_t){.path = xstrdup(path),
                                                          .host_path = xstrdup(host_path),
                                                          .type = type,
                                                          .major = major,
                                                          .minor = minor,
                                                          .mode = mode};
}

static void add_mount(builder_t *b, const char *host_path, const char *container_path,
                      const char *const *options) {
    if (has_mount(b->e, container_path))
        return;
    size_t n = 0;
    while (options[n])
        n++;
    char **opts = xcalloc(n + 1, sizeof(*opts));
    for (size_t i = 0; i < n; i++)
        opts[i] = xstrdup(options[i]);
    GT_GROW(b->e->mounts, b->mcap, b->e->nmounts + 1);
    b->e->mounts[b->e->nmounts++] = (gpu_mount_t){.host_path = xstrdup(host_path),
                                                  .container_path = xstrdup(container_path),
                                                  .options = opts};
}

static void add_env(builder_t *b, const char *kv) {
    GT_GROW(b->e->env, b->ecap, b->nenv + 2);
    b->e->env[b->nenv++] = xstrdup(kv);
    b->e->env[b->nenv] = NULL;
}

static void free_strv(char **v) {
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void gpu_edits_free(gpu_edits_t *e) {
    if (!e)
        return;
    for (size_t i = 0; i < e->ndevices; i++) {
        free(e->devices[i].path);
        free(e->devices[i].host_path);
    }
    free(e->devices);
    for (size_t i = 0; i < e->nmounts; i++) {
        free(e->mounts[i].host_path);
        free(e->mounts[i].container_path);
        free_strv(e->mounts[i].options);
    }
    free(e->mounts);
    free_strv(e->env);
    *e = (gpu_edits_t){0};
}

/* type and numbers of the device node at host_path. -1 with err when it is missing or is
 * not a device. */
static int stat_device(const char *host_path, char *type, long *major, long *minor,
                       gt_error_t *err) {
    struct stat st;
    if (stat(host_path, &st) < 0)
        return gt_error_set(err, "unavailable", "GPU device node %s: %s", host_path,
                            strerror(errno));
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        errno = ENODEV;
        return gt_error_set(err, "unavailable", "GPU device node %s is not a device file",
                            host_path);
    }
    *type = S_ISCHR(st.st_mode) ? 'c' : 'b';
    *major = (long)major(st.st_rdev);
    *minor = (long)minor(st.st_rdev);
    return 0;
}

/* ---- the linker cache (`ldconfig -p`) ---- */

/* libnvidia-container's "utility" and "compute" libraries (src/nvc_info.c). */
static const char *const driver_libs[] = {"libnvidia-ml.so",
                                          "libnvidia-cfg.so",
                                          "libcuda.so",
                                          "libcudadebugger.so",
                                          "libnvidia-opencl.so",
                                          "libnvidia-gpucomp.so",
                                          "libnvidia-ptxjitcompiler.so",
                                          "libnvidia-fatbinaryloader.so",
                                          "libnvidia-allocator.so",
                                          "libnvidia-compiler.so",
                                          "libnvidia-pkcs11.so",
                                          "libnvidia-pkcs11-openssl3.so",
                                          "libnvidia-nvvm.so",
                                          NULL};

/* and its tools ("utility", "compute" and the fabric manager) */
static const char *const driver_tools[] = {"nvidia-smi",
                                           "nvidia-debugdump",
                                           "nvidia-persistenced",
                                           "nv-fabricmanager",
                                           "nvidia-cuda-mps-control",
                                           "nvidia-cuda-mps-server",
                                           NULL};

/* The architecture tag ldconfig prints for this machine's own libraries ("(libc6,x86-64)");
 * NULL where we do not know it (every entry is taken). */
static const char *native_tag(void) {
#if defined(__x86_64__)
    return "x86-64";
#elif defined(__aarch64__)
    return "AArch64";
#elif defined(__powerpc64__)
    return "64bit";
#else
    return NULL;
#endif
}

typedef struct ldentry {
    char *name, *path;
} ldentry_t;

/* The entries of `ldconfig -p` output for this machine's architecture, in order; *n set. */
static ldentry_t *ldcache_parse(const char *text, size_t *n) {
    ldentry_t *v = NULL;
    size_t cap = 0;
    *n = 0;
    const char *tag = native_tag();
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char *l = xmalloc(len + 1);
        memcpy(l, line, len);
        l[len] = '\0';
        line = eol ? eol + 1 : NULL;
        /* "\tNAME (FLAGS) => PATH" */
        char *name = l + strspn(l, " \t");
        char *open = strstr(name, " (");
        char *arrow = open ? strstr(open, ") => ") : NULL;
        if (!open || !arrow || arrow[5] != '/') {
            free(l);
            continue;
        }
        *open = '\0';
        *arrow = '\0';
        char *flags = open + 2, *path = arrow + 5;
        bool native = true;
        if (tag) {
            native = false;
            for (char *f = strtok(flags, ","); f; f = strtok(NULL, ","))
                if (!strcmp(f + strspn(f, " "), tag))
                    native = true;
        }
        if (native && *name && !strchr(name, '/')) {
            GT_GROW(v, cap, *n + 1);
            v[(*n)++] = (ldentry_t){xstrdup(name), xstrdup(path)};
        }
        free(l);
    }
    return v;
}

static void ldcache_free(ldentry_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].path);
    }
    free(v);
}

static bool is_driver_lib(const char *name) {
    for (size_t i = 0; driver_libs[i]; i++) {
        size_t l = strlen(driver_libs[i]);
        if (!strncmp(name, driver_libs[i], l) && (name[l] == '\0' || name[l] == '.'))
            return true;
    }
    return false;
}

char **gpu_edits_ldcache_libs(const char *ldconfig_output) {
    size_t n, k = 0;
    ldentry_t *v = ldcache_parse(ldconfig_output ? ldconfig_output : "", &n);
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (!is_driver_lib(v[i].name))
            continue;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(out[j], v[i].path);
        if (!dup)
            out[k++] = xstrdup(v[i].path);
    }
    ldcache_free(v, n);
    return out;
}

/* The output of `ldconfig -p` (run directly, no shell, C locale), or "" when there is no
 * ldconfig or it fails: a node without one simply has no libraries to offer. Free it. */
static char *ldconfig_p(void) {
    static const char *const where[] = {"/sbin/ldconfig", "/usr/sbin/ldconfig", "/usr/bin/ldconfig",
                                        "/bin/ldconfig", NULL};
    const char *exe = NULL;
    for (size_t i = 0; where[i] && !exe; i++)
        if (access(where[i], X_OK) == 0)
            exe = where[i];
    int p[2];
    if (!exe || pipe2(p, O_CLOEXEC) < 0)
        return xstrdup("");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1); /* dup2 clears close-on-exec */
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none); /* the supervisor blocks signals it reads */
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *const argv[] = {"ldconfig", "-p", NULL};
    char *const envp[] = {"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    gt_buf_t b = {0};
    if (rc == 0) {
        char chunk[65536];
        ssize_t r;
        while ((r = read(p[0], chunk, sizeof(chunk))) > 0 || (r < 0 && errno == EINTR))
            if (r > 0 && b.len < (64u << 20)) /* a sane cache is far smaller */
                gt_buf_append(&b, chunk, (size_t)r);
        /* ECHILD where SIGCHLD is ignored (the launcher): the kernel reaped it */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    close(p[0]);
    return b.data ? b.data : xstrdup("");
}

/* ---- YAML -> the same JSON values (common/yaml_json.h: the CLI's reader) ---- */

static json_t *yaml_to_json(const char *text, size_t len, const char *path, gt_error_t *err) {
    gt_error_t e = {0};
    json_t *v = gt_yaml_read(text, len, &e);
    if (!v) {
        errno = EINVAL;
        gt_error_set(err, "invalid_config", "CDI spec %s: %s", path, e.msg);
    }
    return v;
}

/* ---- CDI ---- */

typedef struct spec {
    char *file; /* its path, for messages */
    json_t *doc;
} spec_t;

static void specs_free(spec_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(s[i].file);
        json_decref(s[i].doc);
    }
    free(s);
}

static bool spec_name(const char *name) {
    size_t l = strlen(name);
    if (name[0] == '.')
        return false;
    return (l > 5 && !strcmp(name + l - 5, ".json")) || (l > 5 && !strcmp(name + l - 5, ".yaml")) ||
           (l > 4 && !strcmp(name + l - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One spec file: parsed, and checked to be a CDI spec. NULL with errno and err. */
static json_t *load_spec(const char *path, gt_error_t *err) {
    size_t len;
    char *text = gt_read_file(path, &len, err);
    if (!text) {
        int e = errno;
        gt_error_set(err, "unavailable", "cannot read the CDI spec %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    json_t *doc;
    size_t l = strlen(path);
    if (l > 5 && !strcmp(path + l - 5, ".json")) {
        json_error_t je;
        doc = json_loadb(text, len, 0, &je);
        if (!doc) {
            errno = EINVAL;
            gt_error_set(err, "invalid_config", "CDI spec %s: JSON error at line %d: %s", path,
                         je.line, je.text);
        }
    } else {
        doc = yaml_to_json(text, len, path, err);
    }
    free(text);
    if (doc && (!json_is_object(doc) || !json_is_string(json_object_get(doc, "cdiVersion")) ||
                !json_is_string(json_object_get(doc, "kind")))) {
        json_decref(doc);
        doc = NULL;
        errno = EINVAL;
        gt_error_set(err, "invalid_config",
                     "%s is not a CDI spec (it needs cdiVersion and "
                     "kind); fix or remove it",
                     path);
    }
    return doc;
}

/* The specs of kind nvidia.com/gpu in dir, in name order (*n = 0: none, or no dir). Every
 * spec file is read: -1 with errno and err when one is unreadable or not a CDI spec. */
static int load_specs(const char *dir, spec_t **out, size_t *n, gt_error_t *err) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        int e = errno;
        gt_error_set(err, "unavailable", "cannot read the CDI directory %s: %s", dir, strerror(e));
        errno = e;
        return -1;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!spec_name(de->d_name))
            continue;
        GT_GROW(names, cap, nn + 1);
        names[nn++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_str);
    spec_t *specs = xcalloc(nn ? nn : 1, sizeof(*specs));
    size_t ns = 0;
    int rc = 0;
    for (size_t i = 0; i < nn && rc == 0; i++) {
        gt_buf_t path = {0};
        gt_buf_printf(&path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path.data, &st) == 0 && S_ISDIR(st.st_mode)) {
            gt_buf_free(&path);
            continue;
        }
        json_t *doc = load_spec(path.data, err);
        if (!doc)
            rc = -1;
        else if (strcmp(json_string_value(json_object_get(doc, "kind")), CDI_KIND))
            json_decref(doc);
        else {
            specs[ns++] = (spec_t){xstrdup(path.data), doc};
        }
        gt_buf_free(&path);
    }
    int e = errno;
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        specs_free(specs, ns);
        errno = e;
        return -1;
    }
    *out = specs;
    *n = ns;
    return 0;
}

static bool names_gpu(json_t *name, int gpu) {
    if (json_is_integer(name))
        return json_integer_value(name) == gpu;
    char want[16];
    snprintf(want, sizeof(want), "%d", gpu);
    return json_is_string(name) && !strcmp(json_string_value(name), want);
}

static int bad_spec(const char *file, const char *what, gt_error_t *err) {
    errno = EINVAL;
    return gt_error_set(err, "invalid_config", "CDI spec %s: %s", file, what);
}

static bool abs_path(json_t *v) {
    return json_is_string(v) && json_string_value(v)[0] == '/';
}

static int apply_device_node(builder_t *b, json_t *dn, const char *file, gt_error_t *err) {
    json_t *path = json_object_get(dn, "path"), *host = json_object_get(dn, "hostPath");
    json_t *type = json_object_get(dn, "type"), *maj = json_object_get(dn, "major");
    json_t *min = json_object_get(dn, "minor"), *mode = json_object_get(dn, "fileMode");
    if (!json_is_object(dn) || !abs_path(path) || (host && !abs_path(host)) ||
        (type && !json_is_string(type)) || (maj && !json_is_integer(maj)) ||
        (min && !json_is_integer(min)) || (mode && !json_is_integer(mode)))
        return bad_spec(file,
                        "a deviceNodes entry needs an absolute path (hostPath, type, "
                        "major, minor, fileMode are optional)",
                        err);
    const char *hp = json_string_value(host ? host : path);
    char t = 0;
    if (type) {
        const char *ts = json_string_value(type);
        if (!strcmp(ts, "c") || !strcmp(ts, "u"))
            t = 'c';
        else if (!strcmp(ts, "b"))
            t = 'b';
        else
            return bad_spec(file, "a device node's type must be c, u or b", err);
    }
    long major = maj ? (long)json_integer_value(maj) : 0;
    long minor = min ? (long)json_integer_value(min) : 0;
    if (!t || !major) { /* as the CDI library does: what the spec omits comes from the node */
        char st;
        long smaj, smin;
        if (stat_device(hp, &st, &smaj, &smin, err) < 0)
            return -1;
        if (t && t != st) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_config",
                                "CDI spec %s: %s is type %c on the "
                                "node, the spec says %c",
                                file, hp, st, t);
        }
        t = st;
        if (!major) {
            major = smaj;
            minor = smin;
        }
    }
    add_device(b, json_string_value(path), hp, t, major, minor,
               mode ? (unsigned)json_integer_value(mode) & 07777 : 0);
    return 0;
}

static int apply_mount(builder_t *b, json_t *m, const char *file, gt_error_t *err) {
    json_t *host = json_object_get(m, "hostPath"), *cpath = json_object_get(m, "containerPath");
    json_t *type = json_object_get(m, "type"), *opts = json_object_get(m, "options");
    if (!json_is_object(m) || !abs_path(host) || !abs_path(cpath) ||
        (type && !json_is_string(type)) || (opts && !json_is_array(opts)))
        return bad_spec(file, "a mounts entry needs absolute hostPath and containerPath", err);
    if (type && strcmp(json_string_value(type), "bind") &&
        strcmp(json_string_value(type), "none") && json_string_value(type)[0])
        return bad_spec(file, "only bind mounts are supported (mount type bind or none)", err);
    if (!opts || !json_array_size(opts)) {
        add_mount(b, json_string_value(host), json_string_value(cpath), ro_bind);
        return 0;
    }
    size_t n = json_array_size(opts);
    const char **o = xcalloc(n + 2, sizeof(*o));
    bool bind = false;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(opts, i);
        if (!json_is_string(s)) {
            free(o);
            return bad_spec(file, "mount options must be strings", err);
        }
        o[i] = json_string_value(s);
        bind = bind || !strcmp(o[i], "bind") || !strcmp(o[i], "rbind");
    }
    if (!bind)
        o[n] = "bind";
    add_mount(b, json_string_value(host), json_string_value(cpath), o);
    free(o);
    return 0;
}

/* One containerEdits (an object; older specs wrote an array of them). Hooks, additionalGids
 * and intelRdt are not applied. */
static int apply_edits(builder_t *b, json_t *ce, const char *file, gt_error_t *err) {
    if (!ce || json_is_null(ce))
        return 0;
    if (json_is_array(ce)) {
        for (size_t i = 0; i < json_array_size(ce); i++)
            if (apply_edits(b, json_array_get(ce, i), file, err) < 0)
                return -1;
        return 0;
    }
    if (!json_is_object(ce))
        return bad_spec(file, "containerEdits must be an object", err);
    json_t *env = json_object_get(ce, "env"), *dns = json_object_get(ce, "deviceNodes");
    json_t *ms = json_object_get(ce, "mounts");
    if ((env && !json_is_array(env)) || (dns && !json_is_array(dns)) || (ms && !json_is_array(ms)))
        return bad_spec(file, "env, deviceNodes and mounts must be lists", err);
    for (size_t i = 0; i < json_array_size(env); i++) {
        json_t *kv = json_array_get(env, i);
        if (!json_is_string(kv) || !strchr(json_string_value(kv), '=') ||
            json_string_value(kv)[0] == '=')
            return bad_spec(file, "env entries are \"NAME=VALUE\"", err);
        add_env(b, json_string_value(kv));
    }
    for (size_t i = 0; i < json_array_size(dns); i++)
        if (apply_device_node(b, json_array_get(dns, i), file, err) < 0)
            return -1;
    for (size_t i = 0; i < json_array_size(ms); i++)
        if (apply_mount(b, json_array_get(ms, i), file, err) < 0)
            return -1;
    return 0;
}

/* The length of "libX.so" at the start of a library's file name, or 0. */
static size_t lib_stem(const char *base) {
    const char *so = strncmp(base, "lib", 3) ? NULL : strstr(base, ".so");
    return so && (so[3] == '\0' || so[3] == '.') ? (size_t)(so + 3 - base) : 0;
}

/* What nvidia-ctk's hooks would have made: for each library mounted from the spec, the names
 * in the node's linker cache that resolve to the same file (libcuda.so.1 for
 * libcuda.so.570.86.15), bound beside it. */
static void add_soname_links(builder_t *b) {
    size_t nm = b->e->nmounts;
    bool any = false;
    for (size_t i = 0; i < nm && !any; i++) {
        const char *base = strrchr(b->e->mounts[i].host_path, '/') + 1;
        any = lib_stem(base) > 0;
    }
    if (!any)
        return;
    char *text = ldconfig_p();
    size_t n;
    ldentry_t *v = ldcache_parse(text, &n);
    free(text);
    char **real = xcalloc(nm, sizeof(*real));
    for (size_t i = 0; i < nm; i++)
        real[i] = realpath(b->e->mounts[i].host_path, NULL);
    for (size_t k = 0; k < n; k++) {
        char *rp = NULL;
        for (size_t i = 0; i < nm; i++) {
            gpu_mount_t *m = &b->e->mounts[i];
            const char *base = strrchr(m->host_path, '/') + 1;
            size_t stem = lib_stem(base);
            if (!stem || !real[i] || strncmp(v[k].name, base, stem))
                continue;
            if (!rp && !(rp = realpath(v[k].path, NULL)))
                break;
            const char *cbase = strrchr(m->container_path, '/') + 1;
            if (strcmp(rp, real[i]) || !strcmp(cbase, v[k].name))
                continue;
            gt_buf_t link = {0};
            gt_buf_printf(&link, "%.*s%s", (int)(cbase - m->container_path), m->container_path,
                          v[k].name);
            char *hp = xstrdup(m->host_path); /* add_mount may move the array */
            add_mount(b, hp, link.data, (const char *const *)m->options);
            free(hp);
            gt_buf_free(&link);
            break;
        }
        free(rp);
    }
    for (size_t i = 0; i < nm; i++)
        free(real[i]);
    free(real);
    ldcache_free(v, n);
}

static int cdi_edits(builder_t *b, const char *dir, spec_t *specs, size_t ns, const int *gpus,
                     size_t n, gt_error_t *err) {
    json_t **dev = xcalloc(n, sizeof(*dev));
    size_t *from = xcalloc(n, sizeof(*from));
    size_t found = 0;
    int rc = 0;
    for (size_t g = 0; g < n && rc == 0; g++) {
        for (size_t s = 0; s < ns && rc == 0; s++) {
            json_t *devs = json_object_get(specs[s].doc, "devices");
            if (!json_is_array(devs)) {
                rc = bad_spec(specs[s].file, "devices must be a list", err);
                break;
            }
            for (size_t i = 0; i < json_array_size(devs); i++) {
                json_t *d = json_array_get(devs, i);
                if (!names_gpu(json_object_get(d, "name"), gpus[g]))
                    continue;
                if (dev[g]) {
                    errno = EINVAL;
                    rc = gt_error_set(err, "invalid_config",
                                      "GPU %d is defined twice in the "
                                      "CDI specs (%s and %s); remove one",
                                      gpus[g], specs[from[g]].file, specs[s].file);
                    break;
                }
                dev[g] = d;
                from[g] = s;
            }
        }
        found += dev[g] != NULL;
    }
    if (rc == 0 && found < n) {
        gt_buf_t list = {0};
        for (size_t g = 0; g < n; g++)
            if (!dev[g])
                gt_buf_printf(&list, "%s%d", list.len ? ", " : "", gpus[g]);
        errno = ENODEV;
        rc = gt_error_set(err, "unavailable",
                          "the CDI specs of kind " CDI_KIND " in %s "
                          "%s of this job's GPUs (missing: %s); regenerate them (nvidia-ctk "
                          "cdi generate --output=%s/nvidia.yaml)",
                          dir, found ? "lack some" : "name none", list.data, dir);
        gt_buf_free(&list);
    }
    /* the spec-wide edits of each spec that holds one of the job's GPUs, then the GPUs' own */
    for (size_t s = 0; s < ns && rc == 0; s++) {
        bool used = false;
        for (size_t g = 0; g < n; g++)
            used = used || from[g] == s;
        if (used)
            rc =
                apply_edits(b, json_object_get(specs[s].doc, "containerEdits"), specs[s].file, err);
    }
    for (size_t g = 0; g < n && rc == 0; g++)
        rc = apply_edits(b, json_object_get(dev[g], "containerEdits"), specs[from[g]].file, err);
    if (rc == 0)
        add_soname_links(b);
    free(dev);
    free(from);
    return rc;
}

/* ---- without CDI: the driver's files ---- */

static int driver_edits(builder_t *b, const char *dev_dir, const int *gpus, size_t n,
                        gt_error_t *err) {
    static const char *const control[] = {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                                          "nvidia-modeset", NULL};
    char host[PATH_MAX], path[64];
    for (size_t g = 0; g < n; g++) {
        char t;
        long maj, min;
        snprintf(host, sizeof(host), "%s/nvidia%d", dev_dir, gpus[g]);
        snprintf(path, sizeof(path), "/dev/nvidia%d", gpus[g]);
        if (stat_device(host, &t, &maj, &min, err) < 0)
            return -1;
        if (t != 'c') {
            errno = ENODEV;
            return gt_error_set(err, "unavailable",
                                "GPU device node %s is not a character "
                                "device",
                                host);
        }
        add_device(b, path, host, t, maj, min, 0);
    }
    for (size_t i = 0; control[i]; i++) {
        char t;
        long maj, min;
        snprintf(host, sizeof(host), "%s/%s", dev_dir, control[i]);
        snprintf(path, sizeof(path), "/dev/%s", control[i]);
        if (stat_device(host, &t, &maj, &min, NULL) == 0 && t == 'c')
            add_device(b, path, host, t, maj, min, 0);
    }
    char *text = ldconfig_p();
    char **libs = gpu_edits_ldcache_libs(text);
    free(text);
    for (size_t i = 0; libs[i]; i++)
        if (access(libs[i], R_OK) == 0)
            add_mount(b, libs[i], libs[i], ro_bind);
    free_strv(libs);
    const char *env_path = getenv("PATH");
    char *dirs = xstrdup(env_path && *env_path ? env_path
                                               : "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                 "/usr/bin:/sbin:/bin");
    for (size_t i = 0; driver_tools[i]; i++) {
        char *save = NULL, *copy = xstrdup(dirs);
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            struct stat st;
            if (d[0] != '/')
                continue; /* never a path relative to wherever the supervisor runs */
            snprintf(host, sizeof(host), "%s/%s", d, driver_tools[i]);
            if (stat(host, &st) == 0 && S_ISREG(st.st_mode) && access(host, X_OK) == 0) {
                /* At /usr/bin in the container, as libnvidia-container puts them: the image's
                 * PATH has it, and not the host's driver directory (/usr/local/nvidia/bin on
                 * a GPU machine seen here, where nvidia-smi was mounted but not found). */
                char in[4200];
                snprintf(in, sizeof(in), "/usr/bin/%s", driver_tools[i]);
                add_mount(b, host, in, ro_bind);
                break;
            }
        }
        free(copy);
    }
    free(dirs);
    return 0;
}

int gpu_edits_for(const char *cdi_dir, const char *dev_dir, const int *gpus, size_t n,
                  gpu_edits_t *out, gt_error_t *err) {
    *out = (gpu_edits_t){0};
    if (n == 0)
        return 0;
    for (size_t g = 0; g < n; g++)
        if (!gpus || gpus[g] < 0) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "a GPU index is negative");
        }
    const char *dir = cdi_dir ? cdi_dir : "/etc/cdi";
    builder_t b = {.e = out};
    spec_t *specs;
    size_t ns;
    if (load_specs(dir, &specs, &ns, err) < 0)
        return -1;
    int rc;
    if (ns) {
        out->source = "cdi";
        rc = cdi_edits(&b, dir, specs, ns, gpus, n, err);
    } else {
        out->source = "driver";
        rc = driver_edits(&b, dev_dir ? dev_dir : "/dev", gpus, n, err);
    }
    int e = errno;
    specs_free(specs, ns);
    if (rc < 0) {
        gpu_edits_free(out);
        errno = e;
    }
    return rc;
}
