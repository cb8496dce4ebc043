/* fake_nvml.c: a stand-in libnvidia-ml for test_gpu, built as $(OUT)/tests/libfake_nvml.so.
 * Four "NVIDIA H200" GPUs: 0 and 1 linked to each other, 2 and 3 linked to an NVSwitch.
 *
 * Their load by default: GPU i is 10*i % busy with i*1000 MiB in use and no process. A test
 * chooses other figures in the file named by GANTRY_FAKE_NVML_FILE, read again at every call
 * (so a test changes the load while an agent runs), one line per GPU:
 *     INDEX UTIL_PERCENT MEMORY_MIB [PID:MIB ...]
 * the PID:MIB pairs being the compute processes NVML lists on that GPU with their memory.
 * Lines that do not parse, and GPUs without a line, keep the defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned util;
    unsigned long long mem_mib;
    unsigned nproc;
    unsigned pid[8];
    unsigned long long pmem_mib[8];
} load_t;

/* GPU i's load now: the defaults, or the chosen file's line for it. */
static load_t load_of(unsigned i)
{
    load_t l = {.util = 10 * i, .mem_mib = (unsigned long long)i * 1000};
    const char *path = getenv("GANTRY_FAKE_NVML_FILE");
    FILE *f = path && *path ? fopen(path, "r") : NULL;
    if (!f)
        return l;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *end;
        unsigned long idx = strtoul(p, &end, 10);
        if (end == p || idx != i)
            continue;
        p = end;
        unsigned long u = strtoul(p, &end, 10);
        if (end == p)
            continue;
        p = end;
        unsigned long long m = strtoull(p, &end, 10);
        if (end == p)
            continue;
        p = end;
        l.util = (unsigned)u;
        l.mem_mib = m;
        l.nproc = 0;
        while (l.nproc < 8) {
            unsigned long pid = strtoul(p, &end, 10);
            if (end == p || *end != ':')
                break;
            p = end + 1;
            unsigned long long pm = strtoull(p, &end, 10);
            if (end == p)
                break;
            p = end;
            l.pid[l.nproc] = (unsigned)pid;
            l.pmem_mib[l.nproc++] = pm;
        }
    }
    fclose(f);
    return l;
}

typedef struct {
    unsigned long long total, free, used;
} mem_t;
typedef struct {
    unsigned int gpu, memory;
} util_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} pci_t;

static int inited;
int nvmlInit_v2(void) { inited = 1; return 0; }
int nvmlShutdown(void) { inited = 0; return 0; }
const char *nvmlErrorString(int rc) { return rc ? "Fake error" : "Success"; }
int nvmlDeviceGetCount_v2(unsigned int *n) { *n = 4; return inited ? 0 : 1; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d)
{
    if (i >= 4)
        return 2;
    *d = (void *)(unsigned long)(i + 1);
    return 0;
}
static unsigned idx(void *d) { return (unsigned)(unsigned long)d - 1; }
int nvmlDeviceGetName(void *d, char *buf, unsigned int len)
{
    (void)d;
    snprintf(buf, len, "NVIDIA H200");
    return 0;
}
int nvmlDeviceGetUUID(void *d, char *buf, unsigned int len)
{
    snprintf(buf, len, "GPU-fake-%u", idx(d));
    return 0;
}
int nvmlDeviceGetMemoryInfo(void *d, mem_t *m)
{
    m->total = 143771ULL << 20;
    m->used = load_of(idx(d)).mem_mib << 20;
    m->free = m->total - m->used;
    return 0;
}
int nvmlDeviceGetUtilizationRates(void *d, util_t *u)
{
    u->gpu = load_of(idx(d)).util;
    u->memory = 0;
    return 0;
}
int nvmlDeviceGetPciInfo_v3(void *d, pci_t *p)
{
    memset(p, 0, sizeof(*p));
    p->bus = 0x10 + idx(d);
    return 0;
}
int nvmlDeviceGetNvLinkState(void *d, unsigned int link, int *active)
{
    *active = link == 0 ? 1 : 0;
    (void)d;
    return 0;
}
int nvmlDeviceGetNvLinkRemotePciInfo_v2(void *d, unsigned int link, pci_t *p)
{
    (void)link;
    memset(p, 0, sizeof(*p));
    unsigned i = idx(d);
    p->bus = i == 0 ? 0x11 : i == 1 ? 0x10 : 0xf0; /* 2, 3: an NVSwitch */
    return 0;
}

/* nvmlProcessInfo_t of the _v3 entry point (pid, bytes, MIG instance ids). */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} proc_t;
int nvmlDeviceGetComputeRunningProcesses_v3(void *d, unsigned int *count, proc_t *infos)
{
    load_t l = load_of(idx(d));
    if (*count < l.nproc || (!infos && l.nproc)) {
        *count = l.nproc;
        return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    }
    for (unsigned k = 0; k < l.nproc; k++)
        infos[k] = (proc_t){l.pid[k], l.pmem_mib[k] << 20, 0xffffffffu, 0xffffffffu};
    *count = l.nproc;
    return 0;
}
