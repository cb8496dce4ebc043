/* test_services.c: the job kinds (job.c's "kind" field) and the services' rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/probe.h"
#include "server/job.h"
#include "server/services.h"
#include "tap.h"

static job_t *parse(const char *text, gt_error_t *err)
{
    json_error_t je;
    json_t *b = json_loads(text, 0, &je);
    if (!b)
        diag("bad test body %s: %s", text, je.text);
    job_t *j = NULL;
    job_array_t arr;
    memset(err, 0, sizeof(*err));
    errno = 0;
    int rc = job_parse_request(b, "alice", "research", &j, &arr, err);
    job_array_free(&arr);
    json_decref(b);
    return rc == 0 ? j : NULL;
}

static void test_kind(void)
{
    gt_error_t err;
    job_t *j = parse("{\"command\": [\"true\"]}", &err);
    ok(j && j->kind == JOB_KIND_BATCH, "no kind: batch");
    json_t *o = j ? job_to_json(j) : NULL;
    ok(o && !json_object_get(o, "kind"), "a batch job's document omits kind");
    json_decref(o);
    job_free(j);

    j = parse("{\"command\": [\"true\"], \"kind\": \"batch\"}", &err);
    ok(j && j->kind == JOB_KIND_BATCH, "kind batch");
    job_free(j);
    j = parse("{\"command\": [\"true\"], \"kind\": \"interactive\"}", &err);
    ok(j && j->kind == JOB_KIND_INTERACTIVE, "kind interactive");
    o = j ? job_to_json(j) : NULL;
    is_str(o ? json_string_value(json_object_get(o, "kind")) : NULL, "interactive",
           "the document says kind interactive");
    char *doc = o ? json_dumps(o, 0) : NULL;
    job_t *back = NULL;
    ok(doc && job_from_doc(doc, &back, &err) == 0 && back->kind == JOB_KIND_INTERACTIVE,
       "kind survives the stored document");
    job_free(back);
    free(doc);
    json_decref(o);
    job_free(j);

    j = parse("{\"command\": [\"true\"], \"kind\": \"daemon\"}", &err);
    ok(!j && errno == EINVAL, "an unknown kind is refused");
    is_str(err.code, "bad_request", "  with code bad_request");
    ok(strstr(err.msg, "batch") && strstr(err.msg, "service") && strstr(err.msg, "interactive"),
       "  naming the three kinds: %s", err.msg);
    j = parse("{\"command\": [\"true\"], \"kind\": 3}", &err);
    ok(!j && !strcmp(err.code, "bad_request"), "a kind that is not a string is refused");

    job_kind_t k = JOB_KIND_SERVICE;
    errno = 0;
    ok(job_kind_parse("Service", &k) == -1 && errno == EINVAL && k == JOB_KIND_SERVICE,
       "job_kind_parse is exact and leaves *out alone");
    is_str(job_kind_name(JOB_KIND_SERVICE), "service", "job_kind_name");
    is_str(job_kind_name((job_kind_t)9), "?", "job_kind_name out of range");
}

static void refused(const char *text, const char *needle)
{
    gt_error_t err;
    job_t *j = parse(text, &err);
    ok(!j && errno == EINVAL && strstr(err.msg, needle), "refused: %s (%s)", text, err.msg);
    job_free(j);
}

static void test_service_fields(void)
{
    gt_error_t err;
    job_t *j = parse("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"web\"}", &err);
    ok(j && j->kind == JOB_KIND_SERVICE && j->replicas == 1 && !j->readiness && !j->liveness,
       "a service: 1 replica and no probes by default");
    job_free(j);
    j = parse("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"web\", \"replicas\": 3, "
              "\"readiness\": {\"http\": \"/healthz\"}, \"liveness\": {\"command\": [\"true\"], "
              "\"period\": \"10s\", \"timeout\": 0.5, \"failures\": 5, \"initial_delay\": 2}}", &err);
    ok(j && j->replicas == 3, "replicas 3");
    ok(j && !strcmp(json_string_value(json_object_get(j->readiness, "http")), "/healthz") &&
           json_number_value(json_object_get(j->readiness, "period")) == 2 &&
           json_number_value(json_object_get(j->readiness, "timeout")) == 1 &&
           json_integer_value(json_object_get(j->readiness, "failures")) == 3 &&
           json_number_value(json_object_get(j->readiness, "initial_delay")) == 0,
       "a readiness probe gets the defaults: period 2, timeout 1, failures 3, no delay");
    ok(j && json_number_value(json_object_get(j->liveness, "period")) == 10 &&
           json_number_value(json_object_get(j->liveness, "timeout")) == 0.5 &&
           json_integer_value(json_object_get(j->liveness, "failures")) == 5 &&
           json_number_value(json_object_get(j->liveness, "initial_delay")) == 2 &&
           json_array_size(json_object_get(j->liveness, "command")) == 1,
       "a liveness command probe keeps what it was given (\"10s\" is 10)");
    json_t *o = j ? job_to_json(j) : NULL;
    char *doc = o ? json_dumps(o, 0) : NULL;
    job_t *back = NULL;
    ok(doc && job_from_doc(doc, &back, &err) == 0 && back->replicas == 3 &&
           json_equal(back->readiness, j->readiness) && json_equal(back->liveness, j->liveness),
       "replicas and probes survive the stored document");
    job_t *c = j ? job_clone(j) : NULL;
    ok(c && json_equal(c->liveness, j->liveness) && c->liveness != j->liveness,
       "job_clone copies the probes");
    job_free(c);
    job_free(back);
    free(doc);
    json_decref(o);
    job_free(j);

    refused("{\"command\": [\"x\"], \"kind\": \"service\"}", "needs a 'name'");
    refused("{\"command\": [\"x\"], \"replicas\": 2}", "add \"kind\": \"service\"");
    refused("{\"command\": [\"x\"], \"readiness\": {\"http\": \"/\"}}", "service's field");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"replicas\": 0}",
            "'replicas' must be a whole number from 1 to 1000");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"replicas\": 1001}",
            "from 1 to 1000");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"time_limit\": \"1h\"}",
            "no 'time_limit'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"network\": \"none\"}",
            "not network none");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"array\": \"0-3\"}",
            "not an 'array'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"readiness\": {}}",
            "exactly one of 'http'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"readiness\": "
            "{\"http\": \"/a\", \"command\": [\"true\"]}}", "exactly one of 'http'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"readiness\": "
            "{\"http\": \"healthz\"}}", "starting with '/'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"readiness\": "
            "{\"http\": \"/a b\"}}", "no spaces");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"liveness\": "
            "{\"command\": []}}", "liveness.command");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"liveness\": "
            "{\"http\": \"/\", \"period\": 0.01}}", "'liveness.period' must be a number of seconds from 0.1");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"liveness\": "
            "{\"http\": \"/\", \"failures\": 0}}", "'liveness.failures'");
    refused("{\"command\": [\"x\"], \"kind\": \"service\", \"name\": \"w\", \"liveness\": "
            "{\"http\": \"/\", \"every\": 3}}", "unknown field 'every'");
}

static void test_backoff(void)
{
    ok(services_backoff_s(0) == 0, "no restart yet: no backoff");
    ok(services_backoff_s(1) == 1 && services_backoff_s(2) == 2 && services_backoff_s(3) == 4,
       "backoff 1, 2, 4 s: doubled each restart");
    ok(services_backoff_s(7) == SERVICES_BACKOFF_MAX_S && services_backoff_s(1000) ==
           SERVICES_BACKOFF_MAX_S, "capped at %g s", SERVICES_BACKOFF_MAX_S);
}

/* A one-shot HTTP listener answering each connection with its status line. */
typedef struct tiny {
    int fd, port;
    const char *answer;
    int conns;
} tiny_t;

static void *tiny_main(void *arg)
{
    tiny_t *t = arg;
    for (int i = 0; i < t->conns; i++) {
        int c = accept(t->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[512];
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        (void)n;
        ssize_t w = send(c, t->answer, strlen(t->answer), 0);
        (void)w;
        close(c);
    }
    return NULL;
}

static void tiny_start(tiny_t *t, pthread_t *th)
{
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(t->fd, 8) < 0 ||
        getsockname(t->fd, (struct sockaddr *)&sa, &sl) < 0)
        diag("cannot listen: %s", strerror(errno));
    t->port = ntohs(sa.sin_port);
    pthread_create(th, NULL, tiny_main, t);
}

static void test_probe_run(void)
{
    char msg[256];
    json_t *spec = json_pack("{s:s,s:f}", "http", "/healthz", "timeout", 1.0);
    tiny_t ok200 = {.answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .conns = 1};
    pthread_t th;
    tiny_start(&ok200, &th);
    ok(probe_run(spec, ok200.port, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == 0,
       "an HTTP probe passes on 200");
    pthread_join(th, NULL);
    close(ok200.fd);
    tiny_t bad = {.answer = "HTTP/1.0 503 Service Unavailable\r\n\r\n", .conns = 1};
    tiny_start(&bad, &th);
    ok(probe_run(spec, bad.port, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == -1 &&
           strstr(msg, "answered 503"), "an HTTP probe fails on 503: %s", msg);
    pthread_join(th, NULL);
    close(bad.fd);
    /* docs/services.md: "2xx and 3xx pass" */
    static const struct { const char *answer; int rc; const char *what; } codes[] = {
        {"HTTP/1.1 204 No Content\r\n\r\n", 0, "an HTTP probe passes on 204"},
        {"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", 0,
         "an HTTP probe passes on 302 (3xx; the redirect is not followed)"},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", -1,
         "an HTTP probe fails on 404"},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        tiny_t c = {.answer = codes[i].answer, .conns = 1};
        tiny_start(&c, &th);
        ok(probe_run(spec, c.port, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == codes[i].rc,
           "%s (%s)", codes[i].what, msg);
        pthread_join(th, NULL);
        close(c.fd);
    }
    /* A replica that takes the connection and never answers: failed at the probe's timeout. */
    json_t *quick = json_pack("{s:s,s:f}", "http", "/healthz", "timeout", 0.3);
    int mute = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (bind(mute, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(mute, 8) < 0 ||
        getsockname(mute, (struct sockaddr *)&sa, &sl) < 0)
        diag("cannot listen: %s", strerror(errno));
    double h0 = gt_monotonic_s();
    int hrc = probe_run(quick, ntohs(sa.sin_port), (uid_t)-1, (gid_t)-1, msg, sizeof(msg));
    double htook = gt_monotonic_s() - h0;
    ok(hrc == -1, "an HTTP probe whose replica never answers fails: %s", msg);
    ok(htook < 3, "  at its timeout, not later (%.2f s, timeout 0.3 s)", htook);
    close(mute);
    json_decref(quick);
    int port;
    gt_error_t err = {0};
    ok(probe_free_port(&port, &err) == 0 && port > 0, "probe_free_port gives a port (%d)", port);
    ok(probe_run(spec, port, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == -1 &&
           strstr(msg, "refused"), "an HTTP probe fails when nothing listens: %s", msg);
    json_decref(spec);

    spec = json_pack("{s:[s,s,s],s:f}", "command", "sh", "-c", "test \"$GANTRY_PORT\" = 4242",
                     "timeout", 2.0);
    ok(probe_run(spec, 4242, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == 0,
       "a command probe passes on exit 0, with GANTRY_PORT set");
    ok(probe_run(spec, 4343, (uid_t)-1, (gid_t)-1, msg, sizeof(msg)) == -1 &&
           strstr(msg, "exited with 1"), "and fails on another exit: %s", msg);
    json_decref(spec);
    spec = json_pack("{s:[s,s],s:f}", "command", "sleep", "5", "timeout", 0.3);
    double t0 = gt_monotonic_s();
    int rc = probe_run(spec, 1, (uid_t)-1, (gid_t)-1, msg, sizeof(msg));
    double took = gt_monotonic_s() - t0;
    ok(rc == -1 && strstr(msg, "did not end within"), "a command past its timeout fails: %s", msg);
    ok(took < 3, "  and is killed, not waited for (%.2f s)", took);
    json_decref(spec);
}

/* The prober's readiness: ready after a pass, unready after `failures` failures in a row. */
static void test_prober(void)
{
    gt_error_t err = {0};
    probe_set_t *ps = probe_set_new(&err);
    ok(ps != NULL, "the prober starts");
    char flag[] = "/tmp/gantry-probe-test-XXXXXX";
    int fd = mkstemp(flag);
    close(fd);
    json_t *spec = json_pack("{s:[s,s,s],s:f,s:f,s:i}", "command", "test", "-f", flag, "period",
                             0.1, "timeout", 1.0, "failures", 2);
    probe_add(ps, 7, 1, 5000, spec, NULL, (uid_t)-1, (gid_t)-1);
    probe_event_t ev[8];
    size_t n = 0;
    double end = gt_monotonic_s() + 10;
    while (!n && gt_monotonic_s() < end) {
        usleep(20000);
        n = probe_events(ps, ev, 8);
    }
    ok(n == 1 && ev[0].what == PROBE_READY && ev[0].job_id == 7 && ev[0].port == 5000,
       "ready once its probe passes");
    unlink(flag);
    n = 0;
    end = gt_monotonic_s() + 10;
    while (!n && gt_monotonic_s() < end) {
        usleep(20000);
        n = probe_events(ps, ev, 8);
    }
    ok(n == 1 && ev[0].what == PROBE_UNREADY, "not ready after 2 failures in a row");
    json_t *st = probe_status(ps);
    ok(json_array_size(st) == 1 && !json_is_true(json_object_get(json_array_get(st, 0), "ready")),
       "the heartbeat's list says so");
    json_decref(st);
    tiny_t lis = {.answer = "", .conns = 1000};
    pthread_t lth;
    tiny_start(&lis, &lth);
    probe_add(ps, 8, 1, lis.port, NULL, NULL, (uid_t)-1, (gid_t)-1);
    n = 0;
    end = gt_monotonic_s() + 10;
    while (!n && gt_monotonic_s() < end) {
        usleep(20000);
        n = probe_events(ps, ev, 8);
    }
    ok(n == 1 && ev[0].what == PROBE_READY && ev[0].job_id == 8,
       "without a readiness probe, a replica is ready once its port takes connections");
    int dead;
    probe_free_port(&dead, &err);
    probe_add(ps, 10, 1, dead, NULL, NULL, (uid_t)-1, (gid_t)-1);
    usleep(600000);
    n = probe_events(ps, ev, 8);
    ok(n == 0, "and not while nothing listens on it");
    shutdown(lis.fd, SHUT_RDWR);
    close(lis.fd);
    pthread_join(lth, NULL);
    json_t *live = json_pack("{s:[s],s:f,s:i}", "command", "false", "period", 0.1, "failures", 2);
    /* Never ready (nothing listens on its port): its failing liveness probe is not run. */
    probe_add(ps, 11, 1, dead, NULL, live, (uid_t)-1, (gid_t)-1);
    usleep(800000);
    n = 0;
    while (probe_events(ps, ev, 1))
        n += ev[0].job_id == 11;
    ok(n == 0, "a replica not yet ready is not reported dead by liveness (still starting)");
    probe_remove(ps, 11, 1);
    json_t *ready_now = json_pack("{s:[s],s:f}", "command", "true", "period", 0.1);
    probe_add(ps, 9, 1, 5002, ready_now, live, (uid_t)-1, (gid_t)-1);
    json_decref(ready_now);
    n = 0;
    end = gt_monotonic_s() + 10;
    while (gt_monotonic_s() < end) {
        probe_event_t e;
        if (probe_events(ps, &e, 1) && e.job_id == 9 && e.what == PROBE_DEAD) {
            n = 1;
            break;
        }
        usleep(20000);
    }
    ok(n == 1, "once ready, a failing liveness probe reports the replica dead");
    is_int(probe_port(ps, 9, 1), 5002, "probe_port");
    probe_remove(ps, 9, 1);
    is_int(probe_port(ps, 9, 1), 0, "removed: no port");

    /* initial_delay (docs/services.md): neither probe runs before it has passed since the
     * replica started. Without it, this replica would be ready, then dead, within 0.2 s. */
    json_t *late_ready = json_pack("{s:[s],s:f,s:f}", "command", "true", "period", 0.1,
                                   "initial_delay", 1.5);
    json_t *late_live = json_pack("{s:[s],s:f,s:i,s:f}", "command", "false", "period", 0.1,
                                  "failures", 1, "initial_delay", 3.0);
    double t_add = gt_monotonic_s();
    probe_add(ps, 12, 1, 5003, late_ready, late_live, (uid_t)-1, (gid_t)-1);
    double t_ready = 0, t_dead = 0;
    end = t_add + 20;
    while (!t_dead && gt_monotonic_s() < end) {
        probe_event_t e;
        while (probe_events(ps, &e, 1)) {
            if (e.job_id == 12 && e.what == PROBE_READY && !t_ready)
                t_ready = gt_monotonic_s();
            if (e.job_id == 12 && e.what == PROBE_DEAD && !t_dead)
                t_dead = gt_monotonic_s();
        }
        usleep(20000);
    }
    ok(t_ready >= t_add + 1.5, "readiness is first probed after its initial_delay (ready %.2f s "
       "after the start, delay 1.5 s)", t_ready - t_add);
    ok(t_dead >= t_add + 3.0, "liveness is first probed after its initial_delay (dead %.2f s "
       "after the start, delay 3 s)", t_dead - t_add);
    probe_remove(ps, 12, 1);
    json_decref(late_ready);
    json_decref(late_live);
    json_decref(live);
    json_decref(spec);
    probe_set_free(ps);
}

int main(void)
{
    test_kind();
    test_service_fields();
    test_backoff();
    test_probe_run();
    test_prober();
    return tap_done();
}
