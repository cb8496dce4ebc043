/* bench/service-endpoint.c: the two programs of bench/service-endpoint.
 *   service-endpoint serve            a replica: a small keep-alive HTTP/1.1 server on
 *                                     $GANTRY_PORT answering "ok" to any GET (a thread per
 *                                     connection), so that the replica costs little and the
 *                                     figures show the endpoint's own cost
 *   service-endpoint load URL CONC SECONDS [TOKEN]
 *                                     CONC clients, each one keep-alive connection calling URL
 *                                     in a loop for SECONDS: prints "requests/s p50_ms p99_ms
 *                                     errors" */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *conn_main(void *arg)
{
    int c = (int)(intptr_t)arg;
    char buf[8192];
    size_t have = 0;
    static const char ans[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 3\r\n\r\nok\n";
    for (;;) {
        ssize_t n = recv(c, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        char *end;
        while ((end = strstr(buf, "\r\n\r\n"))) {
            if (send(c, ans, sizeof(ans) - 1, MSG_NOSIGNAL) < 0)
                goto out;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, have - used + 1);
            have -= used;
        }
        if (have >= sizeof(buf) - 1)
            break;
    }
out:
    close(c);
    return NULL;
}

static int serve(void)
{
    const char *p = getenv("GANTRY_PORT");
    if (!p)
        return fprintf(stderr, "serve: GANTRY_PORT is not set\n"), 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(p)),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0)
        return perror("serve"), 1;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t th;
        if (pthread_create(&th, NULL, conn_main, (void *)(intptr_t)c) == 0)
            pthread_detach(th);
        else
            close(c);
    }
}

typedef struct worker {
    const char *url, *token;
    double until;
    double *lat;
    size_t n, cap;
    long errors;
} worker_t;

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static void *load_main(void *arg)
{
    worker_t *w = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    char auth[512];
    if (w->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", w->token);
        hd = curl_slist_append(hd, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, w->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    while (now() < w->until) {
        double t0 = now();
        CURLcode rc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != 200) {
            w->errors++;
            continue;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof(double));
        }
        w->lat[w->n++] = now() - t0;
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

static int load(const char *url, int conc, double secs, const char *token)
{
    curl_global_init(CURL_GLOBAL_ALL);
    worker_t *w = calloc((size_t)conc, sizeof(*w));
    pthread_t *th = calloc((size_t)conc, sizeof(*th));
    double t0 = now();
    for (int i = 0; i < conc; i++) {
        w[i] = (worker_t){.url = url, .token = token, .until = t0 + secs};
        pthread_create(&th[i], NULL, load_main, &w[i]);
    }
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        errors += w[i].errors;
    }
    double took = now() - t0;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conc; i++) {
        memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
        k += w[i].n;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(double), cmp);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)(total * 0.99)] : 0;
    printf("%.0f %.3f %.3f %ld\n", total / took, p50 * 1e3, p99 * 1e3, errors);
    free(all);
    free(w);
    free(th);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "serve"))
        return serve();
    if (argc >= 5 && !strcmp(argv[1], "load"))
        return load(argv[2], atoi(argv[3]), atof(argv[4]), argc > 5 ? argv[5] : NULL);
    fprintf(stderr, "usage: service-endpoint serve | load URL CONC SECONDS [TOKEN]\n");
    return 2;
}
