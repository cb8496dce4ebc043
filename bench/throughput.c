/* bench/throughput.c: end-to-end throughput of short jobs through `gantry server` and its
 * agents (not a test). CLIENTS threads with keep-alive connections submit TOTAL 1-GPU jobs
 * running `true`; then waits until none is pending or running and reads every job's end time.
 * Prints jobs/s from the first submission to the last job's end, as JSON.
 * usage: throughput URL TOKEN [TOTAL=3000] [CLIENTS=4] [TEAM=research] */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url, *token, *team;
static long total;
static atomic_long next_job, failures;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    char *p;
    size_t n;
} buf_t;

static size_t on_data(char *p, size_t s, size_t n, void *a)
{
    buf_t *b = a;
    if (!b)
        return s * n;
    b->p = realloc(b->p, b->n + s * n + 1);
    memcpy(b->p + b->n, p, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static CURL *handle(struct curl_slist **hd)
{
    CURL *h = curl_easy_init();
    char auth[300];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    *hd = curl_slist_append(NULL, auth);
    *hd = curl_slist_append(*hd, "Content-Type: application/json");
    *hd = curl_slist_append(*hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    return h;
}

static void *client(void *arg)
{
    (void)arg;
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    char u[512], body[256];
    snprintf(u, sizeof(u), "%s/v1/jobs", url);
    snprintf(body, sizeof(body),
             "{\"team\":\"%s\",\"gpus\":1,\"time_limit\":\"10m\",\"command\":[\"true\"]}", team);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    while (atomic_fetch_add(&next_job, 1) < total) {
        long code = 0;
        if (curl_easy_perform(h) != CURLE_OK ||
            (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != 201))
            atomic_fetch_add(&failures, 1);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static json_t *get(CURL *h, const char *path)
{
    char u[600];
    buf_t b = {0};
    snprintf(u, sizeof(u), "%s%s", url, path);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    json_t *j = curl_easy_perform(h) == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return j;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: throughput URL TOKEN [TOTAL] [CLIENTS] [TEAM]\n");
        return 2;
    }
    url = argv[1];
    token = argv[2];
    total = argc > 3 ? atol(argv[3]) : 3000;
    int nc = argc > 4 ? atoi(argv[4]) : 4;
    team = argc > 5 ? argv[5] : "research";
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *th = calloc(nc, sizeof(*th));
    double t0 = now();
    for (int i = 0; i < nc; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < nc; i++)
        pthread_join(th[i], NULL);
    double t_sub = now();
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    for (double until = now() + 600;;) {
        json_t *j = get(h, "/v1/jobs?state=pending,running&limit=1");
        size_t left = json_array_size(json_object_get(j, "jobs"));
        json_decref(j);
        if (j && !left)
            break;
        if (now() > until) {
            fprintf(stderr, "jobs still pending or running after 600 s\n");
            return 1;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    double last_end = 0;
    long succeeded = 0, other = 0;
    char path[128] = "/v1/jobs?state=all&limit=10000";
    for (;;) {
        json_t *j = get(h, path), *o;
        size_t i;
        json_array_foreach(json_object_get(j, "jobs"), i, o)
        {
            const char *st = json_string_value(json_object_get(o, "state"));
            double e = json_number_value(json_object_get(o, "end_time"));
            if (st && !strcmp(st, "succeeded"))
                succeeded++;
            else
                other++;
            if (e > last_end)
                last_end = e;
        }
        json_t *next = json_object_get(j, "next_after");
        if (!json_is_integer(next)) {
            json_decref(j);
            break;
        }
        snprintf(path, sizeof(path), "/v1/jobs?state=all&limit=10000&after=%lld",
                 (long long)json_integer_value(next));
        json_decref(j);
    }
    printf("{\"system\": \"gantry\", \"jobs\": %ld, \"succeeded\": %ld, \"not_succeeded\": %ld, "
           "\"submit_failures\": %ld, \"submit_s\": %.3f, \"seconds\": %.3f, "
           "\"jobs_per_s\": %.1f}\n",
           total, succeeded, other, (long)failures, t_sub - t0, last_end - t0,
           succeeded / (last_end - t0));
    return 0;
}
