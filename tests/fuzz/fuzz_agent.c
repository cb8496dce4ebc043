/* fuzz_agent.c: libFuzzer target for the agent protocol as the server reads it
 * (src/server/api_agents.c): the bodies of POST /v1/agent/register, heartbeat, report and logs,
 * sent as node fz-1's credential, as node fz-2's, as a join token or as the admin.
 *
 * The server is the real one (server_open on a data directory under /dev/shm, one team, two
 * registered nodes, a job running on fz-1 and a 2-node gang over both), built once and kept:
 * state carries from one input to the next, as it does for a server facing a hostile agent.
 * Before each input a job is placed again if none runs. An input is:
 *   byte 0: the endpoint (mod 4: register, heartbeat, report, logs)
 *   byte 1: the caller (mod 4: node fz-1, node fz-2, join token, admin)
 *   the rest: the JSON body, where the strings "@E", "@J", "@I" and "@G" are replaced by fz-1's
 *   current epoch, the running job's id and incarnation, and the gang's id (so that inputs
 *   reach past the fences).
 * After each input: the answer is a well-formed status (never 500), the scheduler's
 * invariants hold (no GPU given twice, gangs whole, teams within limits), an accepted log chunk
 * started within the log (no holes) and a refused one left the log as it was.
 * Build and run: make fuzz; build/fuzz/fuzz_agent tests/fuzz/corpus/agent */
#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

void api_log_path(server_t *srv, uint64_t id, int inc, const char *stream, char *buf,
                  size_t len);

static server_t *fz_srv;
static FILE *fz_err;         /* the original stderr: the server's own log goes to /dev/null */
static char fz_dir[] = "/dev/shm/gantry-fuzz-agent.XXXXXX";

static void die(const char *what, const char *msg)
{
    fprintf(fz_err ? fz_err : stderr, "fuzz_agent: %s: %s\n", what, msg);
    abort();
}

/* One request through the router, as http.c's send_resp would answer it: the commit waited
 * for, then the change applied (resp->apply). */
static int call(const char *method, const char *path, const char *body, size_t len,
                const auth_principal_t *who, json_t **out)
{
    http_req_t req = {.method = method, .path = path, .body = body, .body_len = len,
                      .who = *who, .authed = true};
    http_resp_t resp = {0};
    resp.status = 200;
    api_route(fz_srv, &req, &resp);
    if (resp.ticket) {
        gt_error_t err = {0};
        int rc = store_wait(fz_srv->store, resp.ticket, &err);
        if (resp.apply) {
            void (*apply)(server_t *, http_resp_t *, int, const gt_error_t *) = resp.apply;
            resp.apply = NULL;
            apply(fz_srv, &resp, rc, &err);
        } else if (rc < 0) {
            resp.status = 503;
        }
    }
    if (out)
        *out = resp.json;
    else
        json_decref(resp.json);
    free(resp.text);
    if (resp.stream_free)
        resp.stream_free(resp.stream);
    return resp.status;
}

static auth_principal_t principal(auth_role_t role, const char *user)
{
    auth_principal_t p = {.role = role};
    snprintf(p.user, sizeof(p.user), "%s", user);
    return p;
}

static json_int_t submit(const char *body)
{
    auth_principal_t admin = principal(AUTH_ADMIN, "admin");
    json_t *o = NULL;
    if (call("POST", "/v1/jobs", body, strlen(body), &admin, &o) != 201)
        die("submit", body);
    json_int_t id = json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return id;
}

static void register_node(const char *name)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"gpu_type\":\"H100-80GB\","
             "\"cpus_milli\":8000,\"memory_mib\":65536,\"gpus\":[{\"index\":0},{\"index\":1}],"
             "\"running\":[]}", name);
    auth_principal_t admin = principal(AUTH_ADMIN, "admin");
    if (call("POST", "/v1/agent/register", body, strlen(body), &admin, NULL) != 200)
        die("register", name);
}

static json_int_t job_id, gang_id;

/* Keeps something running on fz-1 (a 1-GPU job) and over both nodes (a gang). */
static void keep_jobs(void)
{
    pthread_mutex_lock(&fz_srv->mu);
    job_t *j = job_id ? server_job(fz_srv, (uint64_t)job_id) : NULL;
    job_t *g = gang_id ? server_job(fz_srv, (uint64_t)gang_id) : NULL;
    bool need_job = !j || job_state_terminal(j->state);
    bool need_gang = !g || job_state_terminal(g->state);
    pthread_mutex_unlock(&fz_srv->mu);
    if (need_job)
        job_id = submit("{\"team\":\"t\",\"gpus\":1,\"command\":[\"true\"],"
                        "\"checkpoint\":{\"signal\":\"SIGTERM\",\"grace\":\"1s\"}}");
    if (need_gang)
        gang_id = submit("{\"team\":\"t\",\"gpus\":2,\"nodes\":2,\"command\":[\"true\"]}");
    server_cycle(fz_srv);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* At exit: the store closed (its committer stopped), the data directory removed. */
static void cleanup(void)
{
    server_close(fz_srv);
    fz_srv = NULL;
    nftw(fz_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(fz_dir)) {
        memcpy(fz_dir, "/tmp/gantry-fuzz-agent.XXXXXX", sizeof("/tmp/gantry-fuzz-agent.XXXXXX"));
        if (!mkdtemp(fz_dir))
            die("mkdtemp", fz_dir);
    }
    /* The server logs a line per event: to /dev/null when FUZZ_AGENT_QUIET is set (the seed
     * run in make test; libFuzzer's own report is on stderr too). */
    int keep = dup(2);
    fz_err = keep >= 0 ? fdopen(keep, "w") : NULL;
    if (fz_err)
        setvbuf(fz_err, NULL, _IONBF, 0);
    if (getenv("FUZZ_AGENT_QUIET") && fz_err && !freopen("/dev/null", "w", stderr))
        die("freopen", "/dev/null");
    atexit(cleanup);
    char cfg[600];
    snprintf(cfg, sizeof(cfg), "%s/cluster.yaml", fz_dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        die("config", cfg);
    fputs("teams:\n  - {name: t, quota: {gpus: 4}}\n", f);
    fclose(f);
    char data[600];
    snprintf(data, sizeof(data), "%s/data", fz_dir);
    server_opts_t o = {.config = cfg, .data = data, .heartbeat_s = 3600};
    gt_error_t err = {0};
    if (server_open(&o, &fz_srv, &err) < 0)
        die("server_open", err.msg);
    register_node("fz-1");
    register_node("fz-2");
    keep_jobs();
    return 0;
}

/* body with the placeholders replaced (a new string). */
static char *expand(const uint8_t *data, size_t size)
{
    char vals[4][32];
    pthread_mutex_lock(&fz_srv->mu);
    node_t *n = server_node(fz_srv, "fz-1");
    job_t *j = server_job(fz_srv, (uint64_t)job_id);
    snprintf(vals[0], 32, "%lld", n ? (long long)n->epoch : 0LL);
    snprintf(vals[1], 32, "%lld", (long long)job_id);
    snprintf(vals[2], 32, "%d", j ? j->incarnation : 0);
    snprintf(vals[3], 32, "%lld", (long long)gang_id);
    pthread_mutex_unlock(&fz_srv->mu);
    static const char *keys[4] = {"\"@E\"", "\"@J\"", "\"@I\"", "\"@G\""};
    gt_buf_t b = {0};
    gt_buf_append(&b, "", 0);
    for (size_t i = 0; i < size;) {
        int k = -1;
        for (int q = 0; q < 4 && k < 0; q++)
            if (size - i >= 4 && !memcmp(data + i, keys[q], 4))
                k = q;
        if (k >= 0) {
            gt_buf_append(&b, vals[k], strlen(vals[k]));
            i += 4;
        } else {
            gt_buf_append(&b, (const char *)data + i, 1);
            i++;
        }
    }
    return b.data;
}

/* The log file a chunk body names (path into log, its offset into *offset) and its size now;
 * log stays "" when body is NULL or names no job. */
static off_t log_size(const char *body, char *log, size_t len, json_int_t *offset)
{
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    json_int_t id = json_integer_value(json_object_get(o, "job_id"));
    json_int_t inc = json_integer_value(json_object_get(o, "incarnation"));
    const char *stream = json_string_value(json_object_get(o, "stream"));
    *offset = json_integer_value(json_object_get(o, "offset"));
    off_t size = 0;
    if (id > 0 && inc > 0 && inc < 1000000) {
        api_log_path(fz_srv, (uint64_t)id, (int)inc, stream ? stream : "stdout", log, len);
        struct stat sb;
        size = stat(log, &sb) == 0 ? sb.st_size : 0;
    }
    json_decref(o);
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *paths[4] = {"/v1/agent/register", "/v1/agent/heartbeat",
                                   "/v1/agent/report", "/v1/agent/logs"};
    if (size < 2)
        return 0;
    keep_jobs();
    auth_principal_t who[4] = {principal(AUTH_NODE, "fz-1"), principal(AUTH_NODE, "fz-2"),
                               principal(AUTH_AGENT, "joiner"), principal(AUTH_ADMIN, "admin")};
    char *body = expand(data + 2, size - 2);
    /* A log chunk: the size of the log it names, before and after. */
    char log[4200] = "";
    json_int_t offset = -1;
    off_t before = log_size(data[0] % 4 == 3 ? body : NULL, log, sizeof(log), &offset);
    int st = call("POST", paths[data[0] % 4], body, strlen(body), &who[data[1] % 4], NULL);
    if (st < 200 || st > 599 || st == 500)
        die(paths[data[0] % 4], body);
    if (log[0]) {
        struct stat sb;
        off_t after = stat(log, &sb) == 0 ? sb.st_size : 0;
        if (st == 200 && offset > (json_int_t)before)
            die("a log chunk made a hole (accepted beyond the log's end)", body);
        if (st != 200 && after != before)
            die("a refused log chunk changed the log", body);
    }
    char msg[512];
    pthread_mutex_lock(&fz_srv->mu);
    bool ok = sched_check_invariants(fz_srv->sched, msg, sizeof(msg));
    pthread_mutex_unlock(&fz_srv->mu);
    if (!ok)
        die("scheduler invariant", msg);
    free(body);
    return 0;
}
