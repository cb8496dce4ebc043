#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/store.h"
#include "tap.h"

static store_t *st;

static void *writer(void *arg)
{
    long base = (long)arg;
    for (int i = 0; i < 100; i++) {
        store_op_t op = {.kind = STORE_JOB_PUT, .id = (uint64_t)(base + i), .a = "research",
                         .b = "alice", .c = "pending", .d = "{\"x\":1}"};
        uint64_t t = store_enqueue(st, &op, 1);
        if (store_wait(st, t, NULL) < 0)
            return (void *)1;
    }
    return NULL;
}

static int count;
static uint64_t last_id;
static int ordered = 1;
static int on_job(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)arg;
    (void)err;
    if (id <= last_id)
        ordered = 0;
    last_id = id;
    count++;
    if (id == 5 && strcmp(doc, "{\"x\":2}") != 0)
        ordered = 0;
    return 0;
}

static int ntok;
static int on_token(void *arg, const char *h, const char *u, const char *r, const char *t)
{
    (void)arg;
    ntok += !strcmp(h, "h1") && !strcmp(u, "alice") && !strcmp(r, "member") && t == NULL;
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/gantry-store-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    gt_error_t err = {0};
    is_int(store_open(dir, &st, &err), 0, "store opens");

    pthread_t th[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, writer, (void *)(1000 * (i + 1)));
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += r != NULL;
    }
    is_int(bad, 0, "800 concurrent writes committed");
    store_stats_t s;
    store_get_stats(st, &s);
    is_int(s.batches, 800, "800 batches");
    ok(s.transactions <= s.batches, "group commit: %llu transactions for 800 batches",
       (unsigned long long)s.transactions);

    /* Later batches win: the same id written twice keeps the second. */
    store_op_t ops[3] = {
        {.kind = STORE_JOB_PUT, .id = 5, .a = "t", .b = "u", .c = "pending", .d = "{\"x\":1}"},
        {.kind = STORE_JOB_PUT, .id = 5, .a = "t", .b = "u", .c = "running", .d = "{\"x\":2}"},
        {.kind = STORE_META_PUT, .a = "next_id", .n = 42},
    };
    uint64_t t1 = store_enqueue(st, ops, 3);
    store_op_t tk = {.kind = STORE_TOKEN_PUT, .a = "h1", .b = "alice", .c = "member"};
    uint64_t t2 = store_enqueue(st, &tk, 1);
    ok(t2 > t1, "tickets increase");
    is_int(store_wait(st, t2, &err), 0, "later ticket waits for both");
    store_close(st);

    is_int(store_open(dir, &st, &err), 0, "store reopens");
    is_int(store_load_jobs(st, on_job, NULL, &err), 0, "jobs load");
    is_int(count, 801, "every job is there after reopening");
    ok(ordered, "jobs load in id order with their last document");
    is_int(store_load_tokens(st, on_token, NULL, &err), 0, "tokens load");
    is_int(ntok, 1, "token row intact");
    int64_t v;
    is_int(store_meta_get(st, "next_id", 0, &v, &err), 0, "meta read");
    is_int(v, 42, "meta value");
    store_meta_get(st, "absent", 7, &v, &err);
    is_int(v, 7, "meta default");
    store_close(st);

    errno = 0;
    is_int(store_open("/proc/nonexistent/x", &st, &err), -1, "bad directory refused");
    is_str(err.code, "store_error", "store_error code");
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
