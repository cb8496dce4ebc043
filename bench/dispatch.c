/* bench/dispatch.c: dispatch latency of `gantry server` + `gantry agent` (not a test).
 * One job at a time on an idle cluster: POST /v1/jobs of a 1-GPU job running bench/stamp,
 * whose first instruction writes the time into DIR/<i>; latency = that time - the time the
 * request was sent. Waits for the job to end (state succeeded) before the next one, so every
 * job meets an idle cluster. Prints p50/p90/p99/max as JSON, plus the acknowledgement time
 * (POST answered: durable) and the share of the latency after the supervisor started
 * (the job's "started" time is the supervisor's start; stamp - started = cgroup, fork, exec).
 * usage: dispatch URL TOKEN N STAMP DIR [TEAM=research] */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

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
    b->p = realloc(b->p, b->n + s * n + 1);
    memcpy(b->p + b->n, p, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static CURL *h;
static struct curl_slist *hd;

static json_t *call(const char *url, const char *body, long *code)
{
    buf_t b = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    *code = 0;
    if (curl_easy_perform(h) != CURLE_OK) {
        free(b.p);
        return NULL;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return j;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: dispatch URL TOKEN N STAMP DIR [TEAM]\n");
        return 2;
    }
    const char *base = argv[1], *token = argv[2], *stamp = argv[4], *dir = argv[5];
    const char *team = argc > 6 ? argv[6] : "research";
    int n = atoi(argv[3]);
    double *lat = calloc(n, sizeof(double)), *ack = calloc(n, sizeof(double)),
           *tail = calloc(n, sizeof(double));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    char auth[300], url[512];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0 || inotify_add_watch(in, dir, IN_CLOSE_WRITE) < 0) {
        perror("inotify");
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[600], body[1400];
        snprintf(path, sizeof(path), "%s/%d", dir, i);
        snprintf(body, sizeof(body),
                 "{\"team\":\"%s\",\"gpus\":1,\"time_limit\":\"1m\",\"command\":[\"%s\",\"%s\"]}",
                 team, stamp, path);
        snprintf(url, sizeof(url), "%s/v1/jobs", base);
        long code;
        double t0 = now();
        json_t *r = call(url, body, &code);
        double t1 = now();
        if (!r || code != 201) {
            fprintf(stderr, "submission %d failed: HTTP %ld\n", i, code);
            return 1;
        }
        long long id = json_integer_value(json_object_get(r, "id"));
        json_decref(r);
        /* Wait for the stamp (inotify: no polling delay of our own), 30 s at most. */
        double st = 0;
        for (double until = now() + 30; now() < until;) {
            FILE *f = fopen(path, "r");
            if (f) {
                int ok = fscanf(f, "%lf", &st) == 1;
                fclose(f);
                if (ok)
                    break;
                st = 0;
            }
            struct pollfd pfd = {.fd = in, .events = POLLIN};
            if (poll(&pfd, 1, 100) > 0) {
                char ev[4096];
                if (read(in, ev, sizeof(ev)) < 0 && errno != EAGAIN)
                    break;
            }
        }
        if (st == 0) {
            fprintf(stderr, "job %lld (submission %d) did not run within 30 s\n", id, i);
            return 1;
        }
        lat[i] = st - t0;
        ack[i] = t1 - t0;
        /* Wait until it has ended, so that the next one meets an idle cluster. */
        snprintf(url, sizeof(url), "%s/v1/jobs/%lld", base, id);
        double started = 0;
        const char *state = "";
        for (double until = now() + 30; now() < until;) {
            json_t *j = call(url, NULL, &code);
            state = json_string_value(json_object_get(j, "state"));
            if (state && !strcmp(state, "succeeded")) {
                json_t *s = json_object_get(j, "start_time");
                started = json_is_number(s) ? json_number_value(s) : 0;
                json_decref(j);
                break;
            }
            if (state && (!strcmp(state, "failed") || !strcmp(state, "cancelled"))) {
                failures++;
                json_decref(j);
                break;
            }
            json_decref(j);
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        tail[i] = started > 0 ? st - started : -1;
    }
    qsort(lat, n, sizeof(double), cmp);
    qsort(ack, n, sizeof(double), cmp);
    qsort(tail, n, sizeof(double), cmp);
    printf("{\"jobs\": %d, \"failed\": %d, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, "
           "\"max_ms\": %.2f, \"min_ms\": %.2f, \"ack_p50_ms\": %.2f, \"ack_p99_ms\": %.2f, "
           "\"supervisor_to_exec_p50_ms\": %.2f, \"supervisor_to_exec_p99_ms\": %.2f}\n",
           n, failures, pct(lat, n, .5) * 1e3, pct(lat, n, .9) * 1e3, pct(lat, n, .99) * 1e3,
           lat[n - 1] * 1e3, lat[0] * 1e3, pct(ack, n, .5) * 1e3, pct(ack, n, .99) * 1e3,
           pct(tail, n, .5) * 1e3, pct(tail, n, .99) * 1e3);
    return failures ? 1 : 0;
}
