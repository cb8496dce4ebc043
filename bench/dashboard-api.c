/* bench/dashboard-api.c: the dashboard's API calls under load (not a test; bench/dashboard-api
 * runs it). Registers NODES nodes through the agent protocol (8 GPUs each, NVML-like per-GPU
 * utilization and memory) and keeps them heartbeating every 5 s from a thread of their own, as
 * real agents would, while it times each of the dashboard's calls REPS times, one at a time
 * on a keep-alive connection, as a browser would, and prints p50/p99/max and the answer's size.
 * usage: dashboard-api URL ADMIN_TOKEN NODES REPS PATH... (PATH: "/v1/...", or "gz:/..." to
 * ask for gzip as a browser does). With SERVER_PID set, also the server's CPU per call: its
 * CPU time over the REPS calls (/proc/PID/stat) less what it spends meanwhile without them
 * (heartbeats, the scheduler: measured over 3 s with no call first), over REPS. Unlike the
 * latencies, that figure hardly moves with the machine's load. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *url, *token;
static int nnodes;
static atomic_int stop;
static long *epochs;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t collect(char *p, size_t s, size_t n, void *a)
{
    buf_t *b = a;
    b->p = realloc(b->p, b->n + s * n + 1);
    memcpy(b->p + b->n, p, s * n);
    b->n += s * n;
    b->p[b->n] = 0;
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
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    return h;
}

/* POST body to path; the answer's body in *out (caller frees); the status. */
static long post(CURL *h, const char *path, const char *body, buf_t *out)
{
    char u[600];
    snprintf(u, sizeof(u), "%s%s", url, path);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    long code = 0;
    if (curl_easy_perform(h) != CURLE_OK)
        return -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static void gpus_json(char *b, size_t len, int node, int beat, int stats)
{
    size_t off = (size_t)snprintf(b, len, "[");
    for (int g = 0; g < 8; g++) {
        if (stats)
            off += (size_t)snprintf(b + off, len - off,
                                    "%s{\"index\":%d,\"utilization\":%.2f,\"memory_used_mib\":%d}",
                                    g ? "," : "", g, ((node * 7 + g * 13 + beat) % 100) / 100.0,
                                    (node + g) % 80 * 1000);
        else
            off += (size_t)snprintf(b + off, len - off,
                                    "%s{\"index\":%d,\"uuid\":\"GPU-%d-%d\",\"name\":\"NVIDIA "
                                    "H100\",\"memory_mib\":81559}", g ? "," : "", g, node, g);
    }
    snprintf(b + off, len - off, "]");
}

static void register_all(void)
{
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    char body[4096], gpus[2048];
    for (int i = 0; i < nnodes; i++) {
        gpus_json(gpus, sizeof(gpus), i, 0, 0);
        snprintf(body, sizeof(body), "{\"name\":\"bn%04d\",\"gpu_type\":\"H100-80GB\","
                 "\"cpus_milli\":96000,\"memory_mib\":1572864,\"topology\":{\"block\":\"b%d\","
                 "\"spine\":\"s%d\",\"leaf\":\"l%d\"},\"gpus\":%s,\"address\":\"127.0.0.1\","
                 "\"running\":[],\"ended\":[]}", i, i / 256, i / 64, i / 16, gpus);
        buf_t out = {0};
        long code = post(h, "/v1/agent/register", body, &out);
        const char *e = out.p ? strstr(out.p, "\"epoch\":") : NULL;
        if (code != 200 || !e) {
            fprintf(stderr, "register bn%04d: %ld %s\n", i, code, out.p ? out.p : "");
            exit(1);
        }
        epochs[i] = atol(e + 8);
        free(out.p);
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

/* Every node heartbeats every 5 s (spread over the period), with its GPUs' stats; no "ending":
 * the server does not judge what it runs (an older agent's heartbeat). */
static void *heartbeats(void *arg)
{
    (void)arg;
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    char body[4096], gpus[2048];
    for (int beat = 1; !atomic_load(&stop); beat++) {
        double t0 = now();
        for (int i = 0; i < nnodes && !atomic_load(&stop); i++) {
            gpus_json(gpus, sizeof(gpus), i, beat, 1);
            snprintf(body, sizeof(body), "{\"name\":\"bn%04d\",\"epoch\":%ld,\"gpus\":%s}", i,
                     epochs[i], gpus);
            buf_t out = {0};
            post(h, "/v1/agent/heartbeat", body, &out);
            free(out.p);
            double due = t0 + 5.0 * (i + 1) / nnodes - now();
            if (due > 0)
                usleep((useconds_t)(due * 1e6));
        }
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

/* The process's CPU seconds (user + system) from /proc/PID/stat, or -1. */
static double proc_cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = 0;
    const char *p = strrchr(line, ')');
    unsigned long long ut, st;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: dashboard-api URL TOKEN NODES REPS PATH...\n");
        return 2;
    }
    url = argv[1];
    token = argv[2];
    nnodes = atoi(argv[3]);
    int reps = atoi(argv[4]);
    curl_global_init(CURL_GLOBAL_ALL);
    epochs = calloc((size_t)nnodes + 1, sizeof(long));
    double t0 = now();
    register_all();
    printf("# %d nodes registered through the agent protocol in %.1f s\n", nnodes, now() - t0);
    pthread_t hb;
    pthread_create(&hb, NULL, heartbeats, NULL);
    /* Let the scheduler place the pending jobs on the new nodes and a round of heartbeats in. */
    sleep(6);
    int spid = getenv("SERVER_PID") ? atoi(getenv("SERVER_PID")) : 0;
    double idle_rate = 0; /* the server's CPU seconds per second with no call */
    if (spid > 0) {
        double c = proc_cpu_s(spid), w = now();
        sleep(3);
        idle_rate = (proc_cpu_s(spid) - c) / (now() - w);
        printf("# server CPU with no call (heartbeats, scheduler): %.3f cores\n", idle_rate);
    }
    printf("%-62s %9s %9s %9s %10s%s\n", "call", "p50 ms", "p99 ms", "max ms", "bytes",
           spid > 0 ? "  CPU ms/call" : "");
    struct curl_slist *hd;
    CURL *h = handle(&hd);
    double *lat = calloc((size_t)reps, sizeof(double));
    for (int a = 5; a < argc; a++) {
        const char *path = argv[a];
        bool gz = !strncmp(path, "gz:", 3);
        char u[1200];
        snprintf(u, sizeof(u), "%s%s", url, gz ? path + 3 : path);
        curl_easy_setopt(h, CURLOPT_URL, u);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        /* As a browser: gzip asked, and the bytes counted as they cross the wire. */
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, gz ? "gzip" : NULL);
        curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);
        size_t bytes = 0;
        long code = 0;
        double cpu0 = spid > 0 ? proc_cpu_s(spid) : 0, wall0 = now();
        for (int r = 0; r < reps; r++) {
            buf_t out = {0};
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
            double s = now();
            if (curl_easy_perform(h) != CURLE_OK)
                code = -1;
            else
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            lat[r] = (now() - s) * 1000;
            bytes = out.n;
            free(out.p);
        }
        char cpu[32] = "";
        if (spid > 0) {
            double used = proc_cpu_s(spid) - cpu0 - idle_rate * (now() - wall0);
            snprintf(cpu, sizeof(cpu), "  %11.2f", used > 0 ? used * 1000 / reps : 0.0);
        }
        qsort(lat, (size_t)reps, sizeof(double), cmp);
        printf("%-62s %9.2f %9.2f %9.2f %10zu%s%s\n", path, lat[reps / 2],
               lat[(size_t)((reps - 1) * 0.99)], lat[reps - 1], bytes, cpu,
               code == 200 ? "" : code == 404 ? "  (404: not on this server)" : "  (ERROR)");
        fflush(stdout);
    }
    atomic_store(&stop, 1);
    pthread_join(hb, NULL);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return 0;
}
