/* test_fuzz_seeds.c: runs the fuzz targets (tests/fuzz) over their seed corpora and the
 * inputs that once crashed them, with the ordinary compiler: a deterministic smoke run inside
 * `make test` (under ASan with SANITIZE=1). A regression shows as a crash or a sanitizer
 * report. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_trace_one
#include "../fuzz/fuzz_trace.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_job_one
#include "../fuzz/fuzz_job.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_manifest_one
#include "../fuzz/fuzz_manifest.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_agent_one
#define LLVMFuzzerInitialize fuzz_agent_init
#include "../fuzz/fuzz_agent.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#include "tap.h"

static int run_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        gt_buf_t b = {0};
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
            gt_buf_append(&b, chunk, k);
        fclose(f);
        one((const uint8_t *)(b.data ? b.data : ""), b.len);
        gt_buf_free(&b);
        n++;
    }
    closedir(d);
    return n;
}

int main(void)
{
    const char *root = getenv("GANTRY_ROOT");
    static const char *const config_dirs[] = {"tests/fuzz/corpus/config",
                                              "tests/fuzz/crashes/config"};
    static const char *const trace_dirs[] = {"tests/fuzz/corpus/trace",
                                             "tests/fuzz/crashes/trace"};
    static const char *const job_dirs[] = {"tests/fuzz/corpus/job", "tests/fuzz/crashes/job"};
    static const char *const agent_dirs[] = {"tests/fuzz/corpus/agent",
                                             "tests/fuzz/crashes/agent"};
    char dir[1024];
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root ? root : ".", config_dirs[i]);
        int n = run_dir(dir, fuzz_config_one);
        ok(i == 1 || n > 0, "config parser over %s: %d inputs", config_dirs[i], n);
        snprintf(dir, sizeof(dir), "%s/%s", root ? root : ".", trace_dirs[i]);
        n = run_dir(dir, fuzz_trace_one);
        ok(i == 1 || n > 0, "trace readers over %s: %d inputs", trace_dirs[i], n);
        snprintf(dir, sizeof(dir), "%s/%s", root ? root : ".", job_dirs[i]);
        n = run_dir(dir, fuzz_job_one);
        ok(i == 1 || n > 0, "job request and document readers over %s: %d inputs", job_dirs[i], n);
    }
    static const char *const manifest_dirs[] = {"tests/fuzz/corpus/manifest",
                                                "tests/fuzz/crashes/manifest"};
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root ? root : ".", manifest_dirs[i]);
        int n = run_dir(dir, fuzz_manifest_one);
        ok(i == 1 || n > 0, "artifact manifests over %s: %d inputs", manifest_dirs[i], n);
    }
    /* The agent protocol on a real server (its state in /dev/shm, removed at the end). */
    setenv("FUZZ_AGENT_QUIET", "1", 1);
    fuzz_agent_init(NULL, NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", root ? root : ".", agent_dirs[i]);
        int n = run_dir(dir, fuzz_agent_one);
        ok(i == 1 || n > 0, "agent protocol bodies over %s: %d inputs", agent_dirs[i], n);
    }
    return tap_done();
}
