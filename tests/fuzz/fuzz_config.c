/* fuzz_config.c: libFuzzer target for the YAML configuration parser (src/common/config.c).
 * A configuration that parses is also built into a scheduler (src/model/sched_config.c), so that whatever the parser
 * accepts the scheduler's model can take (or refuse with an error, never a crash). Clusters
 * over 2,000 nodes are parsed only: adding 10^5 nodes to the scheduler takes seconds, which
 * would slow the search without testing the parser.
 * Build and run: make fuzz; build/fuzz/fuzz_config tests/fuzz/corpus/config */
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "model/sched_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gt_config_t *cfg = NULL;
    gt_error_t err;
    if (gt_config_parse((const char *)data, size, &cfg, &err) == 0) {
        if (cfg->nnodes <= 2000) {
            sched_free(model_sched_new(cfg, false, &err));
        }
        gt_config_free(cfg);
    }
    return 0;
}
