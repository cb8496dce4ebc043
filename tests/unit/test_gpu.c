/* gpu: declared GPUs, a missing NVML, and discovery through a fake NVML library. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/gpu.h"
#include "tap.h"

static void test_declared(void)
{
    gpu_inventory_t *inv = NULL;
    gt_error_t err = {0};
    is_int(gpu_declare(8, "H100-80GB", &inv, &err), 0, "declares 8 GPUs");
    is_int(inv->n, 8, "8 of them");
    is_str(inv->type, "H100-80GB", "of the declared type");
    ok(!inv->from_nvml, "not from NVML");
    is_int(inv->gpus[7].index, 7, "indexed 0..7");
    is_str(inv->gpus[3].uuid, "GPU-declared-3", "with a recognisable uuid");
    is_int(inv->gpus[0].npeers, 7, "one NVLink domain: 7 peers each");
    gpu_usage_t u[8];
    is_int(gpu_sample(inv, u), 0, "sampling declared GPUs succeeds");
    ok(u[0].utilization < 0 && u[0].memory_used_mib < 0, "with unknown usage");
    gpu_inventory_free(inv);

    is_int(gpu_declare(0, NULL, &inv, &err), 0, "a CPU-only node declares 0 GPUs");
    is_int(inv->n, 0, "none");
    gpu_inventory_free(inv);
    errno = 0;
    is_int(gpu_declare(-1, "x", &inv, &err), -1, "a negative count is refused");
    is_int(errno, EINVAL, "EINVAL");
}

static void test_missing_nvml(void)
{
    gpu_inventory_t *inv = NULL;
    gt_error_t err = {0};
    errno = 0;
    is_int(gpu_discover("libnvidia-ml-absent.so.1", &inv, &err), -1, "no NVML library: -1");
    is_int(errno, ENOENT, "ENOENT");
    ok(strstr(err.msg, "libnvidia-ml-absent.so.1") && strstr(err.msg, "--gpus N --gpu-type T"),
       "the message names the library and the way out: %s", err.msg);
}

static void test_fake_nvml(void)
{
    char exe[PATH_MAX], lib[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) {
        ok(1, "# skip cannot find the test binary's directory");
        return;
    }
    exe[n] = '\0';
    snprintf(lib, sizeof(lib), "%s/libfake_nvml.so", dirname(exe));
    if (access(lib, R_OK) != 0) {
        ok(1, "# skip %s not built (make unit builds it)", lib);
        return;
    }
    gpu_inventory_t *inv = NULL;
    gt_error_t err = {0};
    is_int(gpu_discover(lib, &inv, &err), 0, "discovers GPUs through the fake NVML (%s)",
           err.msg);
    if (!inv)
        return;
    ok(inv->from_nvml, "from NVML");
    is_int(inv->n, 4, "4 GPUs");
    is_str(inv->type, "H200", "type from the name");
    is_str(inv->gpus[2].uuid, "GPU-fake-2", "uuids");
    is_int(inv->gpus[1].memory_mib, 143771, "memory in MiB");
    ok(inv->gpus[0].npeers == 1 && inv->gpus[0].nvlink_peers[0] == 1, "0's peer is 1");
    ok(inv->gpus[1].npeers == 1 && inv->gpus[1].nvlink_peers[0] == 0, "1's peer is 0");
    ok(inv->gpus[2].npeers == 1 && inv->gpus[2].nvlink_peers[0] == 3,
       "2 and 3 share an NVSwitch");
    gpu_usage_t u[4];
    is_int(gpu_sample(inv, u), 0, "samples usage");
    ok(u[3].utilization > 0.29 && u[3].utilization < 0.31, "utilization as a fraction");
    is_int(u[2].memory_used_mib, 2000, "memory in use");
    gpu_inventory_free(inv);
}

static void test_device_files(void)
{
    int gpus[] = {2, 5};
    size_t n = 0;
    char **f = gpu_device_files("/dev", gpus, 2, &n);
    is_int(n, 6, "two GPUs need six device files");
    is_str(f[0], "/dev/nvidia2", "its own GPU files");
    is_str(f[1], "/dev/nvidia5", "both");
    is_str(f[2], "/dev/nvidiactl", "and the control device");
    ok(f[6] == NULL, "NULL-terminated");
    gpu_device_files_free(f);
    n = 99;
    f = gpu_device_files("/dev", NULL, 0, &n);
    is_int(n, 0, "no GPU (a CPU-only job): no device file, not even nvidiactl");
    ok(f && f[0] == NULL, "an empty NULL-terminated list");
    gpu_device_files_free(f);
}

int main(void)
{
    test_declared();
    test_missing_nvml();
    test_fake_nvml();
    test_device_files();
    return tap_done();
}
