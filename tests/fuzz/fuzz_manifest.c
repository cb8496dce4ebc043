/* fuzz_manifest.c: libFuzzer target for the manifest a client sends (common/manifest.h):
 * manifest_from_json on any JSON. An accepted manifest must survive its own round trip
 * (manifest_to_json, then manifest_from_json) with the same digest, and its canonical text
 * must be JSON that reads back. Build and run: make fuzz; build/fuzz/fuzz_manifest
 * tests/fuzz/corpus/manifest */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    manifest_t *m = NULL;
    gt_error_t err;
    if (j && manifest_from_json(j, 10000, &m, &err) == 0) {
        char d1[GT_DIGEST_LEN], d2[GT_DIGEST_LEN];
        manifest_digest(m, d1);
        json_t *back = manifest_to_json(m);
        manifest_t *m2 = NULL;
        if (manifest_from_json(back, 0, &m2, &err) != 0)
            abort();
        manifest_digest(m2, d2);
        if (strcmp(d1, d2) || m2->n != m->n || m2->size != m->size)
            abort();
        size_t len = 0;
        char *canon = manifest_canonical(m, &len);
        json_t *c = json_loadb(canon, len, 0, NULL);
        if (!json_is_array(c) || json_array_size(c) != m->n)
            abort();
        json_decref(c);
        free(canon);
        manifest_free(m2);
        json_decref(back);
        manifest_free(m);
    }
    json_decref(j);
    return 0;
}
