/* bench/container-dispatch.c: dispatch latency of a plain process job, a container job from a
 * cached image, and `podman run --rm` of the same image, side by side (not a test; driven by
 * bench/container-dispatch, which starts the server, the agent and podman's storage).
 *
 * Latency, the same for all three: the time the command's first instruction read the clock
 * (bench/stamp, a static binary, writes it into a file) minus the time just before the request
 * left (gantry: POST /v1/jobs sent; podman: `podman run` spawned). One job at a time: each waits
 * for the previous one to end (gantry: state succeeded; podman: the process exited, --rm done),
 * rounds interleaved (plain, container, podman, plain, ...), so that the three meet the same
 * machine load. Round 0 is a warm-up and not counted; for the container it is the first job of
 * the image, which fetches and unpacks it (its latency is printed apart).
 *
 * Unpacking: the agent runs skopeo and umoci through wrappers that append their command lines to
 * CALLS (bench/container-dispatch puts them first in the agent's PATH); the count of skopeo and
 * umoci runs and of unpacked images (CACHE/rootfs/<hex>) is taken before and after every
 * container job.
 *
 * usage: container-dispatch URL TOKEN N STAMP HOSTDIR IMAGE CALLS CACHE -- PODMAN... IMG
 *   STAMP    the stamp binary on the host (plain jobs); in the image it is /bin/stamp
 *   HOSTDIR  a 1777 directory: plain jobs write there; the container job mounts it (volume
 *            "stamps") and podman (-v) at /stamps
 *   IMAGE    the job's image reference (oci:/...:tag), or "-" to skip container jobs
 *   PODMAN.. podman's command line up to the image name and the command (appended: -v, IMG,
 *            /bin/stamp /stamps/NAME); no podman after "--": skip podman */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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
    char *q = realloc(b->p, b->n + s * n + 1);
    if (!q)
        return 0;
    b->p = q;
    memcpy(b->p + b->n, p, s * n);
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static CURL *h;
static const char *base;

static json_t *call(const char *path, const char *body, long *code)
{
    buf_t b = {0};
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    *code = 0;
    if (curl_easy_perform(h) != CURLE_OK) {
        free(b.p);
        return NULL;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    if (!j && b.p)
        fprintf(stderr, "HTTP %ld: %s\n", *code, b.p);
    free(b.p);
    return j;
}

static int inot;

/* Waits (inotify, no polling delay of our own) until path holds a time and returns it; 0 after
 * `limit` seconds. With child > 0, stops too when that process exits: *reaped is then its wait
 * status (else -1), and the file gets one last look. */
static double read_stamp(const char *path)
{
    double st = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lf", &st) != 1)
            st = 0;
        fclose(f);
    }
    return st;
}

static double wait_stamp(const char *path, double limit, pid_t child, int *reaped)
{
    if (reaped)
        *reaped = -1;
    for (double until = now() + limit; now() < until;) {
        double st = read_stamp(path);
        if (st > 0)
            return st;
        int status;
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            *reaped = status;
            return read_stamp(path);
        }
        struct pollfd pfd = {.fd = inot, .events = POLLIN};
        if (poll(&pfd, 1, 20) > 0) {
            char ev[4096];
            if (read(inot, ev, sizeof(ev)) < 0 && errno != EAGAIN)
                break;
        }
    }
    return 0;
}

/* Counts what the agent's skopeo and umoci wrappers logged (their --version checks left out),
 * and the unpacked images in the cache. */
typedef struct {
    int skopeo, umoci, unpacked;
} counts_t;

static counts_t count(const char *calls, const char *cache)
{
    counts_t c = {0, 0, 0};
    FILE *f = fopen(calls, "r");
    char line[8192];
    while (f && fgets(line, sizeof(line), f)) {
        if (strstr(line, " --version"))
            continue;
        if (!strncmp(line, "skopeo ", 7))
            c.skopeo++;
        else if (!strncmp(line, "umoci ", 6))
            c.umoci++;
    }
    if (f)
        fclose(f);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/rootfs", cache);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            c.unpacked++;
    if (d)
        closedir(d);
    return c;
}

typedef struct {
    const char *name;
    double *lat, *done, *tail; /* first instruction, end seen, agent start_time -> first instr. */
    int n;
    bool skip;
    char why[2048];
} series_t;

/* One gantry job: submit, wait for the stamp, wait for its end. Returns 0, or -1 with s->why. */
static int gantry_job(series_t *s, const char *body, const char *stampfile, double *lat,
                      double *done, double *tail)
{
    long code;
    double t0 = now();
    json_t *r = call("/v1/jobs", body, &code);
    if (!r || code != 201) {
        json_t *m = json_object_get(json_object_get(r, "error"), "message");
        if (!m)
            m = json_object_get(r, "message");
        snprintf(s->why, sizeof(s->why), "submission refused: HTTP %ld %s", code,
                 json_string_value(m) ? json_string_value(m) : "");
        json_decref(r);
        return -1;
    }
    long long id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    char path[64];
    snprintf(path, sizeof(path), "/v1/jobs/%lld", id);
    /* the stamp, for 1 s without a request of ours; then the job's state is looked at every
     * 0.2 s too, so that a job that failed does not hold the run for a minute */
    double st = wait_stamp(stampfile, 1, 0, NULL);
    for (double until = now() + 59; st <= 0 && now() < until;) {
        json_t *j = call(path, NULL, &code);
        const char *state = json_string_value(json_object_get(j, "state"));
        bool ended = state && strcmp(state, "pending") && strcmp(state, "running");
        json_decref(j);
        st = wait_stamp(stampfile, ended ? 0.05 : 0.2, 0, NULL);
        if (ended)
            break;
    }
    double started = 0, end_seen = 0;
    const char *state = "";
    json_t *j = NULL;
    for (double until = now() + (st > 0 ? 60 : 1); now() < until;) {
        json_decref(j);
        j = call(path, NULL, &code);
        state = json_string_value(json_object_get(j, "state"));
        if (state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                      !strcmp(state, "cancelled"))) {
            end_seen = now();
            json_t *x = json_object_get(j, "start_time");
            started = json_is_number(x) ? json_number_value(x) : 0;
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (st <= 0 || !state || strcmp(state, "succeeded")) {
        const char *f[] = {"state", "end_reason", "end_message", "pending_reason",
                           "pending_message"};
        int o = snprintf(s->why, sizeof(s->why), "job %lld%s:", id,
                         st <= 0 ? " wrote no stamp" : " did not succeed");
        for (size_t i = 0; i < sizeof(f) / sizeof(*f) && o < (int)sizeof(s->why); i++) {
            const char *v = json_string_value(json_object_get(j, f[i]));
            if (v)
                o += snprintf(s->why + o, sizeof(s->why) - o, " %s=%s", f[i], v);
        }
        if (st > 0 && !state)
            snprintf(s->why + o, sizeof(s->why) - o, " (no end seen within 60 s)");
        if (st <= 0) { /* do not leave it running into the next round */
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
            json_decref(call(path, NULL, &code));
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        }
        json_decref(j);
        return -1;
    }
    if (json_object_get(j, "image") && !json_string_value(json_object_get(j, "image_digest"))) {
        snprintf(s->why, sizeof(s->why), "job %lld ran but no image_digest was recorded", id);
        json_decref(j);
        return -1;
    }
    json_decref(j);
    *lat = st - t0;
    *done = end_seen - t0;
    *tail = started > 0 ? st - started : -1;
    return 0;
}

static int podman_job(series_t *s, char **argv, const char *stampfile, const char *errlog,
                      double *lat, double *done)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    double t0 = now();
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        snprintf(s->why, sizeof(s->why), "%s: %s", argv[0], strerror(e));
        return -1;
    }
    int status;
    double st = wait_stamp(stampfile, 60, pid, &status);
    if (st <= 0 && status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        snprintf(s->why, sizeof(s->why), "podman wrote no stamp within 60 s (see %s)", errlog);
        return -1;
    }
    if (status == -1 && waitpid(pid, &status, 0) != pid)
        status = -1;
    if (st <= 0 || status == -1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        snprintf(s->why, sizeof(s->why), "podman %s, wait status %d (its messages: %s)",
                 st <= 0 ? "ended before its command ran" : "ran its command but failed", status,
                 errlog);
        return -1;
    }
    *lat = st - t0;
    *done = now() - t0;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank on the sorted values: the value at index round(p * (n - 1)). */
static double pct(const double *v, int n, double p)
{
    return v[(int)(p * (n - 1) + 0.5)];
}

static void sort3(series_t *s)
{
    qsort(s->lat, s->n, sizeof(double), cmp);
    qsort(s->done, s->n, sizeof(double), cmp);
    qsort(s->tail, s->n, sizeof(double), cmp);
}

int main(int argc, char **argv)
{
    int dd = 1;
    while (dd < argc && strcmp(argv[dd], "--"))
        dd++;
    if (dd != 9) {
        fprintf(stderr, "usage: container-dispatch URL TOKEN N STAMP HOSTDIR IMAGE CALLS CACHE "
                        "-- [PODMAN... IMG]\n");
        return 2;
    }
    base = argv[1];
    const char *token = argv[2], *stamp = argv[4], *dir = argv[5], *image = argv[6],
               *calls = argv[7], *cache = argv[8];
    int n = atoi(argv[3]);
    if (n < 1) {
        fprintf(stderr, "container-dispatch: N must be at least 1\n");
        return 2;
    }
    int pargc = argc - dd - 1;
    char **pargv = calloc(pargc + 8, sizeof(char *));
    for (int i = 0; i < pargc - 1; i++)
        pargv[i] = argv[dd + 1 + i];
    char volopt[1100], pstamp[64], perrlog[1100];
    snprintf(volopt, sizeof(volopt), "%s:/stamps", dir);
    snprintf(perrlog, sizeof(perrlog), "%s/../podman.err", dir);
    if (pargc >= 2) {
        int k = pargc - 1;
        pargv[k++] = "-v";
        pargv[k++] = volopt;
        pargv[k++] = argv[argc - 1];
        pargv[k++] = "/bin/stamp";
        pargv[k++] = pstamp;
        pargv[k] = NULL;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    char auth[300];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    inot = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inot < 0 || inotify_add_watch(inot, dir, IN_CLOSE_WRITE) < 0) {
        perror("inotify");
        return 1;
    }

    series_t S[3] = {{.name = "(a) plain process job"},
                     {.name = "(b) container job, cached image"},
                     {.name = "(c) podman run --rm, same image"}};
    for (int k = 0; k < 3; k++) {
        S[k].lat = calloc(n, sizeof(double));
        S[k].done = calloc(n, sizeof(double));
        S[k].tail = calloc(n, sizeof(double));
    }
    if (!strcmp(image, "-")) {
        S[1].skip = true;
        snprintf(S[1].why, sizeof(S[1].why), "no image given");
    }
    if (pargc < 2) {
        S[2].skip = true;
        snprintf(S[2].why, sizeof(S[2].why), "no podman command given");
    }
    double cold_lat = 0;
    counts_t c_before_cold = count(calls, cache), c_after_cold = c_before_cold,
             c_end = c_before_cold;
    int warm_jobs_that_ran_tools = 0;

    for (int r = 0; r <= n; r++) {
        char body[4096], file[1200], name[64];
        double l, d, t;
        /* (a) plain */
        if (!S[0].skip) {
            snprintf(name, sizeof(name), "a-%d", r);
            snprintf(file, sizeof(file), "%s/%s", dir, name);
            snprintf(body, sizeof(body),
                     "{\"team\":\"research\",\"gpus\":1,\"time_limit\":\"1m\","
                     "\"command\":[\"%s\",\"%s\"]}",
                     stamp, file);
            if (gantry_job(&S[0], body, file, &l, &d, &t) < 0) {
                S[0].skip = true;
            } else if (r > 0) {
                S[0].lat[S[0].n] = l, S[0].done[S[0].n] = d, S[0].tail[S[0].n++] = t;
            }
        }
        /* (b) container */
        if (!S[1].skip) {
            snprintf(name, sizeof(name), "b-%d", r);
            snprintf(file, sizeof(file), "%s/%s", dir, name);
            snprintf(body, sizeof(body),
                     "{\"team\":\"research\",\"gpus\":1,\"time_limit\":\"1m\",\"image\":\"%s\","
                     "\"mounts\":[{\"volume\":\"stamps\",\"path\":\"/stamps\","
                     "\"read_only\":false}],\"command\":[\"/bin/stamp\",\"/stamps/%s\"]}",
                     image, name);
            counts_t c0 = count(calls, cache);
            int rc = gantry_job(&S[1], body, file, &l, &d, &t);
            counts_t c1 = count(calls, cache);
            if (rc < 0) {
                S[1].skip = true;
            } else if (r == 0) {
                cold_lat = l;
                c_after_cold = c1;
            } else {
                S[1].lat[S[1].n] = l, S[1].done[S[1].n] = d, S[1].tail[S[1].n++] = t;
                if (c1.skopeo != c0.skopeo || c1.umoci != c0.umoci || c1.unpacked != c0.unpacked)
                    warm_jobs_that_ran_tools++;
            }
            c_end = c1;
        }
        /* (c) podman */
        if (!S[2].skip) {
            snprintf(pstamp, sizeof(pstamp), "/stamps/c-%d", r);
            snprintf(file, sizeof(file), "%s/c-%d", dir, r);
            if (podman_job(&S[2], pargv, file, perrlog, &l, &d) < 0) {
                S[2].skip = true;
            } else if (r > 0) {
                S[2].lat[S[2].n] = l, S[2].done[S[2].n] = d, S[2].tail[S[2].n++] = -1;
            }
        }
        if (r % 10 == 0)
            fprintf(stderr, "round %d of %d\n", r, n);
    }

    printf("latency = the command's first instruction (bench/stamp reads CLOCK_REALTIME) - the time\n"
           "          just before the submission left (gantry: POST /v1/jobs sent; podman: `podman\n"
           "          run` spawned); one job at a time, each after the previous one ended, rounds\n"
           "          interleaved (a, b, c), round 0 a warm-up not counted; p99 = nearest rank\n"
           "          (index round(0.99 * (n - 1)) of the sorted values: the maximum for n < 51)\n");
    printf("done    = the end seen by the benchmark (gantry: GET polled every 2 ms until\n"
           "          succeeded; podman: the process exited, --rm included) - the same start\n\n");
    printf("%-34s %5s %10s %10s %10s %10s %10s %16s\n", "", "n", "p50 ms", "p90 ms", "p99 ms",
           "min ms", "done p50", "start->cmd p50");
    for (int k = 0; k < 3; k++) {
        series_t *s = &S[k];
        if (s->n == 0 || (s->skip && s->n < n)) {
            printf("%-34s not available: %s\n", s->name, s->why[0] ? s->why : "no result");
            s->n = 0;
            continue;
        }
        sort3(s);
        char tl[32] = "-";
        if (k < 2 && s->tail[0] >= 0)
            snprintf(tl, sizeof(tl), "%.1f", pct(s->tail, s->n, .5) * 1e3);
        printf("%-34s %5d %10.1f %10.1f %10.1f %10.1f %10.1f %16s\n", s->name, s->n,
               pct(s->lat, s->n, .5) * 1e3, pct(s->lat, s->n, .9) * 1e3,
               pct(s->lat, s->n, .99) * 1e3, s->lat[0] * 1e3, pct(s->done, s->n, .5) * 1e3, tl);
    }
    printf("(start->cmd: the job's start_time as the agent reported it -> the first instruction)\n\n");

    double pa = S[0].n ? pct(S[0].lat, S[0].n, .5) * 1e3 : 0;
    double pb = S[1].n ? pct(S[1].lat, S[1].n, .5) * 1e3 : 0;
    double pc = S[2].n ? pct(S[2].lat, S[2].n, .5) * 1e3 : 0;
    if (S[1].n && S[0].n)
        printf("container / plain, p50: %.2f (container p50 - plain p50 = %+.1f ms; target <= 50 ms: %s)\n",
               pb / pa, pb - pa, pb - pa <= 50 ? "MET" : "NOT MET");
    else
        printf("container / plain: not measured (target container p50 within 50 ms of plain: UNKNOWN)\n");
    if (S[1].n && S[2].n)
        printf("container / podman, p50: %.2f (container p50 - podman p50 = %+.1f ms; target below podman: %s)\n",
               pb / pc, pb - pc, pb < pc ? "MET" : "NOT MET");
    else
        printf("container / podman: not measured (target container p50 below podman's: UNKNOWN)\n");
    if (S[2].n && S[0].n)
        printf("podman / plain, p50: %.2f\n", pc / pa);

    if (S[1].n) {
        printf("\nunpacking (agent's skopeo and umoci runs, --version checks left out; unpacked images"
               " in %s/rootfs):\n", cache);
        printf("  before the first container job:  skopeo %d, umoci %d, unpacked images %d\n",
               c_before_cold.skopeo, c_before_cold.umoci, c_before_cold.unpacked);
        printf("  after the first (cold, %.1f ms to the first instruction): skopeo %d, umoci %d,"
               " unpacked images %d\n", cold_lat * 1e3, c_after_cold.skopeo, c_after_cold.umoci,
               c_after_cold.unpacked);
        printf("  after %d more jobs of the same image: skopeo %d, umoci %d, unpacked images %d;"
               " jobs that ran skopeo or umoci or unpacked: %d of %d\n",
               S[1].n, c_end.skopeo, c_end.umoci, c_end.unpacked, warm_jobs_that_ran_tools,
               S[1].n);
        printf("  second job onwards does no unpacking: %s\n",
               warm_jobs_that_ran_tools == 0 && c_end.umoci == c_after_cold.umoci ? "YES" : "NO");
    }
    printf("\n{\"n\": %d, \"plain_p50_ms\": %.2f, \"plain_p99_ms\": %.2f, \"container_p50_ms\": %.2f,"
           " \"container_p99_ms\": %.2f, \"podman_p50_ms\": %.2f, \"podman_p99_ms\": %.2f,"
           " \"container_cold_ms\": %.2f, \"warm_jobs_that_unpacked\": %d}\n",
           n, pa, S[0].n ? pct(S[0].lat, S[0].n, .99) * 1e3 : 0, pb,
           S[1].n ? pct(S[1].lat, S[1].n, .99) * 1e3 : 0, pc,
           S[2].n ? pct(S[2].lat, S[2].n, .99) * 1e3 : 0, cold_lat * 1e3,
           warm_jobs_that_ran_tools);
    return (S[0].n && (S[1].n || S[1].skip) && (S[2].n || S[2].skip)) ? 0 : 1;
}
