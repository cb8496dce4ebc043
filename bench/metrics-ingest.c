/* bench/metrics-ingest.c: metric lines one server accepts from many jobs logging at once (not
 * a test; bench/metrics-ingest runs it). JOBS threads, one per running job, each on its own
 * keep-alive connection, ship that job's metrics as the agent does (POST /v1/agent/metrics:
 * whole JSON lines at their offset in the job's file, LINES lines a chunk) for SECONDS seconds;
 * prints lines/s and chunks/s. Then the ceilings on this machine, in the same run: the same
 * threads' requests to GET /healthz (the HTTP layer alone), and one thread appending the same
 * lines to a file with write(2) (the disk path alone).
 * usage: metrics-ingest URL ADMIN_TOKEN NODE FIRST_JOB JOBS LINES SECONDS DIR */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *url, *token, *node;
static long first_job;
static int nlines;
static double seconds;
static atomic_long total_lines, total_chunks, total_errors;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *a)
{
    (void)p, (void)a;
    return s * n;
}

static size_t keep(char *p, size_t s, size_t n, void *a)
{
    char *b = a;
    size_t have = strlen(b), add = s * n < 255 - have ? s * n : 255 - have;
    memcpy(b + have, p, add);
    b[have + add] = 0;
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
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    return h;
}

/* One line as a training loop writes it (about 80 bytes), JSON-escaped into b for "data". */
static int line(char *b, size_t len, long step)
{
    return snprintf(b, len, "{\\\"step\\\": %ld, \\\"loss\\\": %.6f, \\\"lr\\\": 0.0003, "
                    "\\\"grad_norm\\\": %.4f}\\n", step, 10.0 / (double)(step + 1),
                    1.0 + (double)(step % 17) / 10.0);
}

static void *job_main(void *arg)
{
    long job = (long)arg;
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    char u[600];
    snprintf(u, sizeof(u), "%s/v1/agent/metrics", url);
    curl_easy_setopt(h, CURLOPT_URL, u);
    size_t cap = (size_t)nlines * 128 + 512;
    char *body = malloc(cap), *data = malloc(cap);
    long step = 0, offset = 0;
    /* Where this job's file stands at the server (an earlier run of the bench shipped some):
     * an empty chunk at offset 0 is answered with it. */
    char got[256] = "";
    snprintf(body, cap, "{\"job_id\":%ld,\"incarnation\":1,\"offset\":0,\"node\":\"%s\","
             "\"data\":\"\"}", job, node);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, got);
    if (curl_easy_perform(h) == CURLE_OK && strstr(got, "\"offset\":"))
        offset = atol(strstr(got, "\"offset\":") + 9);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    step = offset; /* any step numbers will do: they only need to grow */
    double end = now() + seconds;
    while (now() < end) {
        size_t dl = 0;
        long bytes = 0; /* the lines' length in the job's file (unescaped) */
        for (int k = 0; k < nlines; k++) {
            char l[256];
            int n = line(l, sizeof(l), step + k);
            memcpy(data + dl, l, (size_t)n);
            dl += (size_t)n;
            /* each \" and \n in the escaped form is one byte in the file */
            int esc = 0;
            for (int c = 0; c < n; c++)
                esc += l[c] == '\\';
            bytes += n - esc;
        }
        data[dl] = 0;
        snprintf(body, cap, "{\"job_id\":%ld,\"incarnation\":1,\"offset\":%ld,\"node\":\"%s\","
                 "\"data\":\"%s\"}", job, offset, node, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        long code = 0;
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) {
            if (atomic_fetch_add(&total_errors, 1) < 3)
                fprintf(stderr, "job %ld: POST /v1/agent/metrics answered %ld\n", job, code);
            break;
        }
        offset += bytes;
        step += nlines;
        atomic_fetch_add(&total_lines, nlines);
        atomic_fetch_add(&total_chunks, 1);
    }
    free(body);
    free(data);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static void *healthz_main(void *arg)
{
    (void)arg;
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    char u[600];
    snprintf(u, sizeof(u), "%s/healthz", url);
    curl_easy_setopt(h, CURLOPT_URL, u);
    double end = now() + seconds;
    while (now() < end)
        if (curl_easy_perform(h) == CURLE_OK)
            atomic_fetch_add(&total_chunks, 1);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: metrics-ingest URL TOKEN NODE FIRST_JOB JOBS LINES SECONDS DIR\n");
        return 2;
    }
    url = argv[1], token = argv[2], node = argv[3];
    first_job = atol(argv[4]);
    int jobs = atoi(argv[5]);
    nlines = atoi(argv[6]);
    seconds = atof(argv[7]);
    curl_global_init(CURL_GLOBAL_ALL);
    pthread_t *t = calloc((size_t)jobs, sizeof(*t));
    double t0 = now();
    for (int i = 0; i < jobs; i++)
        pthread_create(&t[i], NULL, job_main, (void *)(first_job + i));
    for (int i = 0; i < jobs; i++)
        pthread_join(t[i], NULL);
    double dt = now() - t0;
    long lines = atomic_load(&total_lines), chunks = atomic_load(&total_chunks);
    printf("metric ingestion: %d jobs at once, %d line%s a chunk: %ld lines in %.1f s = "
           "%.0f lines/s (%.0f chunks/s)%s\n", jobs, nlines, nlines == 1 ? "" : "s", lines, dt,
           lines / dt, chunks / dt, atomic_load(&total_errors) ? " [ERRORS]" : "");
    if (nlines != 1) /* the ceilings once, with the first run */
        return atomic_load(&total_errors) ? 1 : 0;
    atomic_store(&total_chunks, 0);
    t0 = now();
    for (int i = 0; i < jobs; i++)
        pthread_create(&t[i], NULL, healthz_main, NULL);
    for (int i = 0; i < jobs; i++)
        pthread_join(t[i], NULL);
    dt = now() - t0;
    printf("ceiling, HTTP alone: %d threads on GET /healthz: %.0f requests/s\n", jobs,
           atomic_load(&total_chunks) / dt);
    /* the same lines appended to a file, one write(2) a line, by one thread */
    char path[4200], l[256];
    snprintf(path, sizeof(path), "%s/ceiling.jsonl", argv[8]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    long n = 0;
    t0 = now();
    while (now() - t0 < seconds) {
        for (int k = 0; k < 1000; k++, n++) {
            int len = snprintf(l, sizeof(l), "{\"i\":1,\"o\":%ld,\"s\":%ld,\"t\":%.3f,\"m\":"
                               "{\"loss\":%.6f,\"lr\":0.0003,\"grad_norm\":%.4f}}\n", n * 80, n,
                               t0, 10.0 / (double)(n + 1), 1.0 + (double)(n % 17) / 10.0);
            if (write(fd, l, (size_t)len) != len)
                return 1;
        }
    }
    dt = now() - t0;
    close(fd);
    unlink(path);
    printf("ceiling, disk alone: one thread appending the same records, a write(2) each: "
           "%.0f lines/s\n", n / dt);
    free(t);
    return atomic_load(&total_errors) ? 1 : 0;
}
