/* fake_nvml.c: a stand-in libnvidia-ml for test_gpu, built as $(OUT)/tests/libfake_nvml.so.
 * Four "NVIDIA H200" GPUs: 0 and 1 linked to each other, 2 and 3 linked to an NVSwitch. */
#include <stdio.h>
#include <string.h>

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
    m->used = (unsigned long long)(idx(d) * 1000) << 20;
    m->free = m->total - m->used;
    return 0;
}
int nvmlDeviceGetUtilizationRates(void *d, util_t *u)
{
    u->gpu = 10 * idx(d);
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
