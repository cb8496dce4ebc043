/* fuzz_job.c: libFuzzer target for what the server reads about jobs (src/server/job.c): a
 * submission body (job_parse_request) and a stored job document (job_from_doc). A body that is
 * accepted must also survive its own round trip: job_to_json, then job_from_doc of that text.
 * Build and run: make fuzz; build/fuzz/fuzz_job tests/fuzz/corpus/job */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    gt_error_t err;
    job_t *j = NULL;
    if (job_from_doc(text, &j, &err) == 0)
        job_free(j);
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    job_array_t arr;
    j = NULL;
    if (body && job_parse_request(body, "fuzz", "research", &j, &arr, &err) == 0) {
        job_array_free(&arr);
        j->id = 1;
        json_t *o = job_to_json(j);
        char *doc = json_dumps(o, JSON_COMPACT);
        job_t *back = NULL;
        if (!doc || job_from_doc(doc, &back, &err) < 0)
            abort(); /* an accepted job must read back */
        job_free(back);
        free(doc);
        json_decref(o);
        job_free(j);
    }
    json_decref(body);
    free(text);
    return 0;
}
