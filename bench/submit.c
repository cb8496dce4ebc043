/* bench/submit.c: submission load generator for `gantry server` (not a test).
 * N client threads, each with one keep-alive libcurl handle, POST /v1/jobs until the total is
 * reached; prints jobs/s and p50/p99 latency as JSON.
 * usage: submit URL TOKEN [TOTAL=20000] [CLIENTS=8] [PATH]
 * With PATH (e.g. /healthz), GETs it instead, expecting 200: the same clients and requests
 * without a job or the store, the server's own ceiling for HTTP requests. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *url, *token, *path;
static long total;
static atomic_long next_job, failures;
static double *lat;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

static void *client(void *arg)
{
    (void)arg;
    CURL *h = curl_easy_init();
    char u[512], auth[300];
    snprintf(u, sizeof(u), "%s%s", url, path ? path : "/v1/jobs");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Expect:");
    const char *body = "{\"team\":\"research\",\"gpus\":1,\"time_limit\":\"1h\","
                       "\"command\":[\"python\",\"train.py\"]}";
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (!path)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    for (;;) {
        long i = atomic_fetch_add(&next_job, 1);
        if (i >= total)
            break;
        double t0 = now();
        long code = 0;
        if (curl_easy_perform(h) != CURLE_OK ||
            (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != (path ? 200 : 201)))
            atomic_fetch_add(&failures, 1);
        lat[i] = now() - t0;
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: submit URL TOKEN [TOTAL] [CLIENTS] [PATH]\n");
        return 2;
    }
    url = argv[1];
    token = argv[2];
    total = argc > 3 ? atol(argv[3]) : 20000;
    int clients = argc > 4 ? atoi(argv[4]) : 8;
    path = argc > 5 ? argv[5] : NULL;
    lat = calloc((size_t)total, sizeof(*lat));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t th[256];
    double t0 = now();
    for (int i = 0; i < clients && i < 256; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < clients && i < 256; i++)
        pthread_join(th[i], NULL);
    double el = now() - t0;
    qsort(lat, (size_t)total, sizeof(*lat), cmp);
    printf("{\"jobs\": %ld, \"clients\": %d, \"seconds\": %.3f, \"jobs_per_s\": %.0f, "
           "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"failures\": %ld}\n",
           total, clients, el, total / el, lat[total / 2] * 1e3,
           lat[(long)(total * 0.99)] * 1e3, (long)failures);
    free(lat);
    return failures ? 1 : 0;
}
