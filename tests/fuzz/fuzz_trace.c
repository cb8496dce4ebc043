/* fuzz_trace.c: libFuzzer target for the trace and node-list readers (src/sim/trace*.c).
 * The first byte picks the reader: guess, csv, alibaba-openb, slurm-sacct, or node list.
 * Build and run: make fuzz; build/fuzz/fuzz_trace tests/fuzz/corpus/trace */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const formats[] = {NULL, "csv", "alibaba-openb", "slurm-sacct"};
    if (size < 1)
        return 0;
    unsigned pick = data[0] % 5;
    const char *text = (const char *)data + 1;
    size--;
    gt_error_t err;
    if (pick == 4) {
        gt_config_t cfg = {0};
        if (gt_nodes_parse(text, size, NULL, &cfg, &err) == 0) {
            for (size_t i = 0; i < cfg.nnodes; i++) {
                free(cfg.nodes[i].name);
                free(cfg.nodes[i].gpu_type);
            }
            free(cfg.nodes);
        }
        return 0;
    }
    gt_trace_t *t = NULL;
    if (gt_trace_parse(text, size, formats[pick], &t, &err) == 0)
        gt_trace_free(t);
    return 0;
}
