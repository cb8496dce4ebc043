#include "agent/gpu.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The NVML ABI this file relies on (nvml.h, stable since the _v2 entry points). */
typedef int nvmlReturn_t;                  /* NVML_SUCCESS = 0 */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
    unsigned int gpu, memory;              /* percent */
} nvmlUtilization_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;      /* bytes; NVML_VALUE_NOT_AVAILABLE when unknown */
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
enum { NVML_SUCCESS = 0, NVML_FEATURE_ENABLED = 1, NVML_NVLINK_MAX_LINKS = 18 };
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

typedef struct nvml {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t *);
    nvmlReturn_t (*link_state)(nvmlDevice_t, unsigned int, int *);
    nvmlReturn_t (*link_remote_pci)(nvmlDevice_t, unsigned int, nvmlPciInfo_t *);
    nvmlReturn_t (*procs)(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *);
} nvml_t;

static const char *nvml_err(const nvml_t *m, nvmlReturn_t rc)
{
    static char buf[32];
    if (m->error_string)
        return m->error_string(rc);
    snprintf(buf, sizeof(buf), "NVML error %d", rc);
    return buf;
}

static void nvml_close(nvml_t *m)
{
    if (!m)
        return;
    if (m->shutdown)
        m->shutdown();
    if (m->lib)
        dlclose(m->lib);
    free(m);
}

void gpu_inventory_free(gpu_inventory_t *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->n; i++)
        free(inv->gpus[i].nvlink_peers);
    free(inv->gpus);
    free(inv->type);
    nvml_close(inv->nvml);
    free(inv);
}

/* "NVIDIA H100 80GB HBM3" -> "H100-80GB-HBM3": the scheduler's gpu_type words. */
static char *type_from_name(const char *name)
{
    if (!strncmp(name, "NVIDIA ", 7))
        name += 7;
    char *t = xstrdup(name);
    for (char *p = t; *p; p++)
        if (isspace((unsigned char)*p))
            *p = '-';
    return t;
}

static bool same_pci(const nvmlPciInfo_t *a, const nvmlPciInfo_t *b)
{
    return a->domain == b->domain && a->bus == b->bus && a->device == b->device;
}

static void add_peer(gpu_info_t *g, int peer)
{
    if (peer == g->index)
        return;
    for (size_t i = 0; i < g->npeers; i++)
        if (g->nvlink_peers[i] == peer)
            return;
    g->nvlink_peers = xrealloc(g->nvlink_peers, (g->npeers + 1) * sizeof(int));
    g->nvlink_peers[g->npeers++] = peer;
}

int gpu_discover(const char *lib, gpu_inventory_t **out, gt_error_t *err)
{
    const char *path = lib ? lib : "libnvidia-ml.so.1";
    nvml_t *m = xcalloc(1, sizeof(*m));
    gpu_inventory_t *inv = NULL;
    nvmlPciInfo_t *pci = NULL;
    nvmlDevice_t *dev = NULL;
    m->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!m->lib) {
        errno = ENOENT;
        gt_error_set(err, "unavailable",
                     "cannot load NVML (%s): %s; this node has no NVIDIA driver: declare its "
                     "GPUs with --gpus N --gpu-type T (or --gpus 0 for a CPU-only node)",
                     path, dlerror());
        free(m);
        return -1;
    }
#define SYM(field, sym)                                                                    \
    do {                                                                                   \
        *(void **)&m->field = dlsym(m->lib, sym);                                          \
        if (!m->field) {                                                                   \
            errno = ENOENT;                                                                \
            gt_error_set(err, "unavailable", "NVML in %s lacks %s: the driver is too old", \
                         path, sym);                                                       \
            goto fail;                                                                     \
        }                                                                                  \
    } while (0)
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(error_string, "nvmlErrorString");
    SYM(count, "nvmlDeviceGetCount_v2");
    SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
    SYM(name, "nvmlDeviceGetName");
    SYM(uuid, "nvmlDeviceGetUUID");
    SYM(memory, "nvmlDeviceGetMemoryInfo");
    SYM(utilization, "nvmlDeviceGetUtilizationRates");
#undef SYM
    /* Optional: without them, no NVLink peers are reported. */
    *(void **)&m->pci = dlsym(m->lib, "nvmlDeviceGetPciInfo_v3");
    *(void **)&m->link_state = dlsym(m->lib, "nvmlDeviceGetNvLinkState");
    *(void **)&m->link_remote_pci = dlsym(m->lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
    /* Optional: without it, no per-process memory (the _v3 and _v2 entry points share the
     * structure above; _v1's is shorter and is not used). */
    *(void **)&m->procs = dlsym(m->lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!m->procs)
        *(void **)&m->procs = dlsym(m->lib, "nvmlDeviceGetComputeRunningProcesses_v2");

    nvmlReturn_t rc = m->init();
    if (rc != NVML_SUCCESS) {
        m->shutdown = NULL; /* not initialised: nothing to shut down */
        errno = EIO;
        gt_error_set(err, "unavailable", "nvmlInit failed: %s (is the NVIDIA driver loaded?)",
                     nvml_err(m, rc));
        goto fail;
    }
    unsigned int count = 0;
    if ((rc = m->count(&count)) != NVML_SUCCESS) {
        errno = EIO;
        gt_error_set(err, "unavailable", "nvmlDeviceGetCount failed: %s", nvml_err(m, rc));
        goto fail;
    }
    inv = xcalloc(1, sizeof(*inv));
    inv->gpus = xcalloc(count ? count : 1, sizeof(*inv->gpus));
    inv->n = count;
    inv->from_nvml = true;
    pci = xcalloc(count ? count : 1, sizeof(*pci));
    dev = xcalloc(count ? count : 1, sizeof(*dev));
    for (unsigned int i = 0; i < count; i++) {
        gpu_info_t *g = &inv->gpus[i];
        g->index = (int)i;
        const char *what = "nvmlDeviceGetHandleByIndex";
        if ((rc = m->handle(i, &dev[i])) != NVML_SUCCESS)
            goto call_failed;
        what = "nvmlDeviceGetName";
        if ((rc = m->name(dev[i], g->name, sizeof(g->name))) != NVML_SUCCESS)
            goto call_failed;
        what = "nvmlDeviceGetUUID";
        if ((rc = m->uuid(dev[i], g->uuid, sizeof(g->uuid))) != NVML_SUCCESS)
            goto call_failed;
        nvmlMemory_t mem;
        what = "nvmlDeviceGetMemoryInfo";
        if ((rc = m->memory(dev[i], &mem)) != NVML_SUCCESS)
            goto call_failed;
        g->memory_mib = (int64_t)(mem.total >> 20);
        if (m->pci && m->pci(dev[i], &pci[i]) != NVML_SUCCESS)
            memset(&pci[i], 0xff, sizeof(pci[i]));
        continue;
call_failed:
        errno = EIO;
        gt_error_set(err, "unavailable", "%s(%u) failed: %s", what, i, nvml_err(m, rc));
        goto fail;
    }
    if (m->pci && m->link_state && m->link_remote_pci) {
        bool *switched = xcalloc(count ? count : 1, sizeof(bool));
        for (unsigned int i = 0; i < count; i++) {
            for (unsigned int l = 0; l < NVML_NVLINK_MAX_LINKS; l++) {
                int active = 0;
                nvmlPciInfo_t remote;
                if (m->link_state(dev[i], l, &active) != NVML_SUCCESS ||
                    active != NVML_FEATURE_ENABLED ||
                    m->link_remote_pci(dev[i], l, &remote) != NVML_SUCCESS)
                    continue;
                bool gpu = false;
                for (unsigned int j = 0; j < count; j++)
                    if (same_pci(&remote, &pci[j])) {
                        add_peer(&inv->gpus[i], (int)j);
                        add_peer(&inv->gpus[j], (int)i);
                        gpu = true;
                    }
                if (!gpu)
                    switched[i] = true;
            }
        }
        for (unsigned int i = 0; i < count; i++)
            for (unsigned int j = 0; j < count; j++)
                if (switched[i] && switched[j])
                    add_peer(&inv->gpus[i], (int)j);
        free(switched);
    }
    inv->type = type_from_name(count ? inv->gpus[0].name : "none");
    inv->nvml = m;
    free(pci);
    free(dev);
    *out = inv;
    return 0;
fail: {
        int e = errno;
        free(pci);
        free(dev);
        gpu_inventory_free(inv);
        nvml_close(m);
        errno = e;
        return -1;
    }
}

int gpu_declare(int count, const char *type, gpu_inventory_t **out, gt_error_t *err)
{
    if (count < 0 || count > 1024) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "--gpus %d is not valid: give a count from 0 to 1024", count);
    }
    gpu_inventory_t *inv = xcalloc(1, sizeof(*inv));
    inv->type = xstrdup(type && *type ? type : "generic");
    inv->gpus = xcalloc(count ? (size_t)count : 1, sizeof(*inv->gpus));
    inv->n = (size_t)count;
    for (int i = 0; i < count; i++) {
        gpu_info_t *g = &inv->gpus[i];
        g->index = i;
        snprintf(g->uuid, sizeof(g->uuid), "GPU-declared-%d", i);
        snprintf(g->name, sizeof(g->name), "%s (declared)", inv->type);
        for (int j = 0; j < count; j++)
            add_peer(g, j);
    }
    *out = inv;
    return 0;
}

int gpu_sample(const gpu_inventory_t *inv, gpu_usage_t *usage)
{
    int rc = 0;
    const nvml_t *m = inv->nvml;
    for (size_t i = 0; i < inv->n; i++) {
        usage[i].utilization = -1;
        usage[i].memory_used_mib = -1;
        usage[i].nprocs = -1;
        if (!m)
            continue;
        nvmlDevice_t d;
        nvmlUtilization_t u;
        nvmlMemory_t mem;
        if (m->handle((unsigned int)i, &d) != NVML_SUCCESS) {
            rc = -1;
            continue;
        }
        if (m->utilization(d, &u) == NVML_SUCCESS)
            usage[i].utilization = u.gpu / 100.0;
        else
            rc = -1;
        if (m->memory(d, &mem) == NVML_SUCCESS)
            usage[i].memory_used_mib = (int64_t)(mem.used >> 20);
        else
            rc = -1;
        nvmlProcessInfo_t p[GPU_MAX_PROCS];
        unsigned int np = GPU_MAX_PROCS;
        /* More processes than fit (INSUFFICIENT_SIZE): none listed rather than a part that
         * would pass for the whole. */
        if (m->procs && m->procs(d, &np, p) == NVML_SUCCESS && np <= GPU_MAX_PROCS) {
            usage[i].nprocs = (int)np;
            for (unsigned int k = 0; k < np; k++) {
                usage[i].procs[k].pid = (int)p[k].pid;
                usage[i].procs[k].memory_used_mib =
                    p[k].usedGpuMemory == NVML_VALUE_NOT_AVAILABLE
                        ? -1 : (int64_t)(p[k].usedGpuMemory >> 20);
            }
        }
    }
    if (rc < 0)
        errno = EIO;
    return rc;
}

char **gpu_device_files(const char *dev_dir, const int *gpus, size_t ngpus, size_t *n)
{
    static const char *const common[] = {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                                         "nvidia-modeset"};
    const char *d = dev_dir ? dev_dir : "/dev";
    if (ngpus == 0) { /* a CPU-only job: no NVIDIA device at all, not even the control ones */
        *n = 0;
        return xcalloc(1, sizeof(char *));
    }
    size_t total = ngpus + 4;
    char **files = xcalloc(total + 1, sizeof(char *));
    gt_buf_t b = {0};
    for (size_t i = 0; i < ngpus; i++) {
        b.len = 0;
        gt_buf_printf(&b, "%s/nvidia%d", d, gpus[i]);
        files[i] = xstrdup(b.data);
    }
    for (size_t i = 0; i < 4; i++) {
        b.len = 0;
        gt_buf_printf(&b, "%s/%s", d, common[i]);
        files[ngpus + i] = xstrdup(b.data);
    }
    gt_buf_free(&b);
    *n = total;
    return files;
}

void gpu_device_files_free(char **files)
{
    if (!files)
        return;
    for (char **f = files; *f; f++)
        free(*f);
    free(files);
}
