/* The store's parts that retention uses: a job row deleted in the batch that writes the usage
 * aggregate (meta rows), and meta rows read back by prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"
#include "tap.h"

static int njobs;
static uint64_t ids_sum;
static int on_job(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)arg;
    (void)doc;
    (void)err;
    njobs++;
    ids_sum += id;
    return 0;
}

static char seen[512];
static int on_meta(void *arg, const char *key, int64_t value)
{
    (void)arg;
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof(seen) - n, "%s=%lld;", key, (long long)value);
    return 0;
}

static int refuse(void *arg, const char *key, int64_t value)
{
    (void)arg;
    (void)key;
    (void)value;
    return -1;
}

int main(void)
{
    char dir[] = "/tmp/gantry-test-retention.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    gt_error_t err = {0};
    store_t *st = NULL;
    is_int(store_create(dir, NULL, 0, &err), 0, "store created");
    is_int(store_open(dir, &st, &err), 0, "store opens");
    store_op_t put[3];
    for (int i = 0; i < 3; i++)
        put[i] = (store_op_t){.kind = STORE_JOB_PUT, .id = (uint64_t)i + 1, .a = "t", .b = "u",
                              .c = "succeeded", .d = "{}"};
    is_int(store_wait(st, store_enqueue(st, put, 3), &err), 0, "three jobs written");
    store_op_t purge[] = {
        {.kind = STORE_META_PUT, .a = "usage.gpu_us:20000:1:ab", .n = 1500000},
        {.kind = STORE_META_PUT, .a = "usage.jobs:20000:1:ab", .n = 2},
        {.kind = STORE_META_PUT, .a = "usagex", .n = 9},
        {.kind = STORE_META_PUT, .a = "next_id", .n = 4},
        {.kind = STORE_JOB_DELETE, .id = 2},
        {.kind = STORE_JOB_DELETE, .id = 7}, /* absent: not an error */
    };
    is_int(store_wait(st, store_enqueue(st, purge, 6), &err), 0, "aggregate and deletes commit");
    store_close(st);

    is_int(store_open(dir, &st, &err), 0, "store reopens");
    is_int(store_load_jobs(st, on_job, NULL, &err), 0, "jobs load");
    is_int(njobs, 2, "the deleted job is gone");
    is_int(ids_sum, 1 + 3, "jobs 1 and 3 remain");
    is_int(store_load_meta(st, "usage.", on_meta, NULL, &err), 0, "meta rows by prefix");
    is_str(seen, "usage.gpu_us:20000:1:ab=1500000;usage.jobs:20000:1:ab=2;",
           "only the prefix's rows, in key order");
    seen[0] = 0;
    is_int(store_load_meta(st, "zzz", on_meta, NULL, &err), 0, "a prefix with no rows");
    is_str(seen, "", "calls nothing");
    is_int(store_load_meta(st, "usage.", refuse, NULL, &err), -1, "fn refusing a row stops it");
    is_str(err.code, "store_error", "with a store_error");
    store_close(st);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
