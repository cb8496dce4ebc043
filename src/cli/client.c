#include "cli/client.h"

#include "common/transport.h"
#include "common/urllist.h"
#include "common/yaml_json.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        s[--n] = 0;
}

static void read_config_file(cli_t *c, bool need_server, bool need_token)
{
    const char *home = getenv("HOME");
    if (!home)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/.config/gantry/config", home);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        trim(line);
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        *eq = 0;
        char *k = line, *v = eq + 1;
        trim(k);
        while (*v == ' ')
            v++;
        if (need_server && !strcmp(k, "server"))
            snprintf(c->server, sizeof(c->server), "%s", v);
        if (need_token && !strcmp(k, "token"))
            snprintf(c->token, sizeof(c->token), "%s", v);
        if (!c->ca_file[0] && !strcmp(k, "ca_file"))
            snprintf(c->ca_file, sizeof(c->ca_file), "%s", v);
    }
    fclose(f);
}

int cli_init(cli_t *c, int *argc, char **argv, const char *cmd)
{
    memset(c, 0, sizeof(*c));
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        int which = 0;
        if (!strcmp(a, "--")) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--allow-plaintext")) {
            c->allow_plaintext = true;
            continue;
        }
        /* gantry submit takes --output FILE as sbatch does (the job's output); -o FMT stays */
        bool output_long = strcmp(cmd, "submit") != 0;
        if (!strcmp(a, "--server") || !strcmp(a, "--token") || !strcmp(a, "-o") ||
            (output_long && !strcmp(a, "--output")) || !strcmp(a, "--ca-file")) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "gantry %s: %s needs a value\n", cmd, a);
                return -1;
            }
            val = argv[++i];
            which = a[2] == 's' ? 1 : a[2] == 't' ? 2 : a[2] == 'c' ? 4 : 3;
        } else if (!strncmp(a, "--ca-file=", 10)) {
            val = a + 10, which = 4;
        } else if (!strncmp(a, "--server=", 9)) {
            val = a + 9, which = 1;
        } else if (!strncmp(a, "--token=", 8)) {
            val = a + 8, which = 2;
        } else if (output_long && !strncmp(a, "--output=", 9)) {
            val = a + 9, which = 3;
        } else if (!strncmp(a, "-o", 2) && a[2]) {
            val = a + 2, which = 3;
        }
        if (!which) {
            argv[out++] = argv[i];
            continue;
        }
        if (which == 1)
            snprintf(c->server, sizeof(c->server), "%s", val);
        else if (which == 4)
            snprintf(c->ca_file, sizeof(c->ca_file), "%s", val);
        else if (which == 2)
            snprintf(c->token, sizeof(c->token), "%s", val);
        else if (!strcmp(val, "json"))
            c->output = CLI_JSON;
        else if (!strcmp(val, "yaml"))
            c->output = CLI_YAML;
        else if (!strcmp(val, "wide"))
            c->output = CLI_WIDE;
        else if (!strcmp(val, "table"))
            c->output = CLI_TABLE;
        else if (!strcmp(val, "name"))
            c->output = CLI_NAME;
        else if (!strcmp(val, "csv"))
            c->output = CLI_CSV;
        else if (!strcmp(val, "spec") && !strcmp(cmd, "show"))
            c->output = CLI_SPEC;
        else {
            fprintf(stderr, "gantry %s: -o %s: use json, yaml, wide, name, csv or table%s\n",
                    cmd, val, strcmp(cmd, "show") ? "" : " (or spec)");
            return -1;
        }
    }
    argv[out] = NULL;
    *argc = out;
    if (!c->server[0] && getenv("GANTRY_SERVER"))
        snprintf(c->server, sizeof(c->server), "%s", getenv("GANTRY_SERVER"));
    if (!c->token[0] && getenv("GANTRY_TOKEN"))
        snprintf(c->token, sizeof(c->token), "%s", getenv("GANTRY_TOKEN"));
    if (!c->ca_file[0] && getenv("GANTRY_CA_FILE"))
        snprintf(c->ca_file, sizeof(c->ca_file), "%s", getenv("GANTRY_CA_FILE"));
    gt_transport_t tp = {0};
    gt_transport_from_env(&tp);
    c->allow_plaintext |= tp.allow_plaintext;
    read_config_file(c, !c->server[0], !c->token[0]);
    if (!c->server[0])
        snprintf(c->server, sizeof(c->server), "http://127.0.0.1:8080");
    /* One URL or several (url1,url2,...: the servers of one cluster, docs/ha.md), each
     * written out whole. */
    gt_urllist_t l;
    gt_error_t err = {0};
    if (gt_urllist_parse(c->server, &l, &err) < 0) {
        fprintf(stderr, "gantry %s: --server / GANTRY_SERVER: %s\n", cmd, err.msg);
        return -1;
    }
    gt_buf_t joined = {0};
    for (size_t i = 0; i < l.n; i++)
        gt_buf_printf(&joined, "%s%s", i ? "," : "", l.urls[i]);
    if (joined.len >= sizeof(c->server)) {
        fprintf(stderr, "gantry %s: --server / GANTRY_SERVER: the list is too long (at most "
                        "%zu characters)\n", cmd, sizeof(c->server) - 1);
        gt_buf_free(&joined);
        gt_urllist_free(&l);
        return -1;
    }
    snprintf(c->server, sizeof(c->server), "%s", joined.data);
    gt_buf_free(&joined);
    gt_urllist_free(&l);
    return 0;
}

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
    gt_buf_append(arg, p, sz * n);
    return sz * n;
}

/* cli_stream's body: a 200's to stdout as it arrives; any other answer's kept (its error). */
typedef struct stream_sink {
    CURL *h;
    gt_buf_t *errbuf;
} stream_sink_t;

static size_t to_stdout(char *p, size_t sz, size_t n, void *arg)
{
    stream_sink_t *sink = arg;
    long status = 0;
    curl_easy_getinfo(sink->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        if (sink->errbuf->len < 65536)
            gt_buf_append(sink->errbuf, p, sz * n);
        return sz * n;
    }
    size_t w = fwrite(p, sz, n, stdout);
    fflush(stdout);
    return w * sz;
}

/* cli_stream_lines' body: whole lines to fn. */
typedef struct line_sink {
    stream_sink_t base;
    gt_buf_t line;
    int (*fn)(void *, const char *);
    void *arg;
    bool stopped;
} line_sink_t;

static size_t to_lines(char *p, size_t sz, size_t n, void *arg)
{
    line_sink_t *ls = arg;
    long status = 0;
    curl_easy_getinfo(ls->base.h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return to_stdout(p, sz, n, &ls->base); /* kept as the error, not printed */
    size_t len = sz * n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') {
            gt_buf_append(&ls->line, p + i, 1);
            continue;
        }
        gt_buf_append(&ls->line, "", 1);
        ls->line.len = 0;
        if (ls->fn(ls->arg, ls->line.data) < 0) {
            ls->stopped = true;
            return 0; /* ends the transfer */
        }
    }
    return len;
}

static gt_transport_t transport_of(const cli_t *c)
{
    return (gt_transport_t){.ca_file = c->ca_file[0] ? c->ca_file : NULL,
                            .allow_plaintext = c->allow_plaintext};
}

/* A handle for the request, or NULL with err when the URL may not be used (see transport.h):
 * nothing is sent then. */
static CURL *prepare(const cli_t *c, const char *method, const char *path,
                     struct curl_slist **hdrs, const char *extra, gt_transport_guard_t *guard,
                     gt_error_t *err)
{
    gt_transport_t tp = transport_of(c);
    if (gt_transport_check(c->server, &tp, err) < 0)
        return NULL;
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    CURL *h = curl_easy_init();
    char url[4096];
    snprintf(url, sizeof(url), "%.2047s%.2000s", c->server, path);
    if (gt_transport_apply(h, url, &tp, guard, err) < 0) {
        curl_easy_cleanup(h);
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    char auth[300];
    if (c->token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, auth);
    }
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    if (extra)
        *hdrs = curl_slist_append(*hdrs, extra);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    return h;
}

static int unreachable(const cli_t *c, CURLcode rc, const gt_transport_guard_t *guard,
                       gt_error_t *err)
{
    if (gt_transport_refused(guard, c->server, err))
        return -1;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
        rc == CURLE_SSL_CONNECT_ERROR) {
        errno = EPROTO;
        return gt_error_set(err, "tls_error", "cannot verify the Gantry server at %s: %s (trust "
                            "its CA with --ca-file or GANTRY_CA_FILE; `gantry up` prints it); "
                            "nothing was sent", c->server, curl_easy_strerror(rc));
    }
    errno = ECONNREFUSED;
    return gt_error_set(err, "unavailable", "cannot reach the Gantry server at %s: %s (is "
                        "`gantry server` running? set --server or GANTRY_SERVER)", c->server,
                        curl_easy_strerror(rc));
}

/* ---- several servers: failover (docs/ha.md) ---- */

/* What one attempt against one URL gave. */
typedef struct outcome {
    CURLcode rc;
    long status;
    bool sent;               /* the request (or part of it) left: the server may have acted */
    bool delivered;          /* part of a 200's body went to the caller (a stream) */
    char code[64];           /* the API's error code of the answer, if any */
    char location[1024];     /* a 307's Location */
    gt_transport_guard_t guard;
} outcome_t;

/* One attempt at one URL (one->server); -1 with err when nothing could be sent (a refused
 * URL: final), else 0 with *o. */
typedef int (*attempt_fn)(const cli_t *one, void *arg, outcome_t *o, gt_error_t *err);

/* The URL of the list that last answered as leader: the next request starts there. */
static size_t preferred;

static void outcome_of(CURL *h, CURLcode rc, const gt_buf_t *body, outcome_t *o)
{
    o->rc = rc;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &o->status);
    long sent = 0;
    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
    o->sent = sent > 0;
    char *loc = NULL;
    if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        snprintf(o->location, sizeof(o->location), "%s", loc);
    if (rc == CURLE_OK && o->status != 200 && body && body->len) {
        json_t *j = json_loadb(body->data, body->len, 0, NULL);
        const char *code = json_string_value(
            json_object_get(json_object_get(j, "error"), "code"));
        if (code)
            snprintf(o->code, sizeof(o->code), "%s", code);
        json_decref(j);
    }
}

static bool tls_failure(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_CONNECT_ERROR;
}

/* How long a client keeps going round the list while no server answers as leader (a
 * failover in progress): GANTRY_SERVER_WAIT seconds, default 15. */
static double failover_wait_s(void)
{
    const char *v = getenv("GANTRY_SERVER_WAIT");
    gt_error_t e = {0};
    int64_t s;
    if (v && gt_parse_int64(v, 0, 3600, &s, &e) == 0)
        return (double)s;
    return 15;
}

/* Runs fn against c's server, or against each of c's servers in turn until one answers as
 * leader: the next on a connection that fails, or on a standby's answer (307, 503
 * not_leader, or a leader's 503 store_error for a replay_safe request); going round again for
 * up to failover_wait_s() while none does. A request that left but got no answer is sent again
 * elsewhere only when replay_safe (a GET, or a request with an Idempotency-Key): otherwise it
 * may have been applied. Returns the leader's HTTP
 * status, or -1 with err. */
static int with_failover(const cli_t *c, bool replay_safe, attempt_fn fn, void *arg,
                         gt_error_t *err)
{
    gt_urllist_t l;
    if (gt_urllist_parse(c->server, &l, err) < 0)
        return -1;
    cli_t one = *c;
    int rc = -1;
    if (l.n == 1) { /* one server: as it always was, no retry */
        outcome_t o = {0};
        snprintf(one.server, sizeof(one.server), "%s", l.urls[0]);
        if (fn(&one, arg, &o, err) == 0)
            rc = o.rc == CURLE_OK ? (int)o.status : unreachable(&one, o.rc, &o.guard, err);
        gt_urllist_free(&l);
        return rc;
    }
    double deadline = gt_monotonic_s() + failover_wait_s();
    size_t i = preferred % l.n, tries = 0;
    for (;;) {
        outcome_t o = {0};
        snprintf(one.server, sizeof(one.server), "%s", l.urls[i]);
        if (fn(&one, arg, &o, err) < 0)
            break;
        /* A leader whose store cannot commit (its PostgreSQL primary lost, a replica being
         * promoted: docs/ha.md) is asked again like a standby, until the deadline, when the
         * request is replay_safe: a commit whose answer was lost may have been made, and the
         * same Idempotency-Key then finds its job rather than making a second. */
        bool store_down = replay_safe && o.rc == CURLE_OK && o.status == 503 &&
                          !strcmp(o.code, "store_error") && gt_monotonic_s() < deadline;
        if (o.rc == CURLE_OK && !gt_urllist_not_leader(o.status, o.code) && !store_down) {
            preferred = i;
            rc = (int)o.status;
            break;
        }
        if (o.rc != CURLE_OK) {
            unreachable(&one, o.rc, &o.guard, err);
            if (o.guard.refused || tls_failure(o.rc))
                break; /* the same everywhere: a setting to fix, not a server down */
            if (o.delivered)
                break; /* part of the answer is out: not started again */
            if (o.sent && !replay_safe) {
                errno = EIO;
                gt_error_set(err, "unavailable", "the server at %s went away during the "
                             "request (%s): it may or may not have been applied; check before "
                             "trying again", one.server, curl_easy_strerror(o.rc));
                break;
            }
        } else if (store_down) {
            gt_error_set(err, "store_error", "the leader at %s cannot save changes at the "
                         "moment (its store is failing over?)", one.server);
        } else {
            gt_error_set(err, "not_leader", "the server at %s is a standby%s%s", one.server,
                         o.location[0] ? "; the leader is at " : " (no leader at the moment)",
                         o.location);
        }
        tries++;
        int hint = o.rc == CURLE_OK ? gt_urllist_find(&l, o.location) : -1;
        i = hint >= 0 && (size_t)hint != i ? (size_t)hint : (i + 1) % l.n;
        if (tries % l.n == 0) {
            if (gt_monotonic_s() >= deadline) {
                char last[sizeof(err->msg)];
                snprintf(last, sizeof(last), "%s", err->msg);
                errno = ECONNREFUSED;
                gt_error_set(err, o.rc == CURLE_OK ? "not_leader" : "unavailable",
                             "none of the %zu servers (%s) answered as leader within %.0f s "
                             "(GANTRY_SERVER_WAIT); the last: %s", l.n, c->server,
                             failover_wait_s(), last);
                break;
            }
            struct timespec ts = {0, 200 * 1000000L}; /* a round of the list, then a pause */
            nanosleep(&ts, NULL);
        }
    }
    gt_urllist_free(&l);
    return rc;
}

typedef struct request_arg {
    const char *method, *path, *extra;
    const json_t *body;
    json_t **out;
} request_arg_t;

static int request_once(const cli_t *c, void *argp, outcome_t *o, gt_error_t *err)
{
    request_arg_t *ra = argp;
    struct curl_slist *hdrs = NULL;
    json_decref(*ra->out);
    *ra->out = NULL;
    CURL *h = prepare(c, ra->method, ra->path, &hdrs, ra->extra, &o->guard, err);
    if (!h) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    char *payload = ra->body ? json_dumps(ra->body, JSON_COMPACT) : NULL;
    if (payload)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    gt_buf_t buf = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    CURLcode rc = curl_easy_perform(h);
    outcome_of(h, rc, &buf, o);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(payload);
    if (rc == CURLE_OK && buf.len)
        *ra->out = json_loadb(buf.data, buf.len, 0, NULL);
    gt_buf_free(&buf);
    return 0;
}

int cli_request(const cli_t *c, const char *method, const char *path, const json_t *body,
                const char *extra_header, json_t **out, gt_error_t *err)
{
    *out = NULL;
    request_arg_t ra = {method, path, extra_header, body, out};
    bool replay_safe = !strcmp(method, "GET") ||
                       (extra_header && !strncasecmp(extra_header, "Idempotency-Key:", 16));
    int st = with_failover(c, replay_safe, request_once, &ra, err);
    if (st < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return st;
}

/* err from a refused request's answer body ({"error": {"code", "message"}}), or from its
 * status alone when the body says nothing. */
static void error_from_answer(const gt_buf_t *body, long status, gt_error_t *err)
{
    json_t *o = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    json_t *e = json_object_get(o, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    if (msg)
        gt_error_set(err, code ? code : "error", "%s (%s, HTTP %ld)", msg,
                     code ? code : "error", status);
    else
        gt_error_set(err, "error", "the server answered HTTP %ld", status);
    json_decref(o);
}

typedef struct stream_arg {
    const char *path;
    int (*fn)(void *, const char *); /* NULL: to stdout */
    void *arg;
    gt_buf_t errbuf;
    bool stopped;
} stream_arg_t;

static int stream_once(const cli_t *c, void *argp, outcome_t *o, gt_error_t *err)
{
    stream_arg_t *sa = argp;
    struct curl_slist *hdrs = NULL;
    sa->errbuf.len = 0;
    CURL *h = prepare(c, "GET", sa->path, &hdrs, NULL, &o->guard, err);
    if (!h) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    line_sink_t sink = {.base = {h, &sa->errbuf}, .fn = sa->fn, .arg = sa->arg};
    if (sa->fn) {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_lines);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    } else {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_stdout);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink.base);
    }
    CURLcode rc = curl_easy_perform(h);
    outcome_of(h, rc, &sa->errbuf, o);
    curl_off_t got = 0;
    curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &got);
    o->delivered = o->status == 200 && got > 0;
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (sa->fn && !sink.stopped && rc == CURLE_OK && sink.line.len) { /* a last line, no \n */
        gt_buf_append(&sink.line, "", 1);
        sa->fn(sa->arg, sink.line.data);
    }
    gt_buf_free(&sink.line);
    if (sink.stopped) { /* fn ended it: a whole answer as far as the caller goes */
        sa->stopped = true;
        o->rc = CURLE_OK;
        o->status = 200;
    }
    return 0;
}

static int stream(const cli_t *c, const char *path, int (*fn)(void *, const char *),
                  void *arg, gt_error_t *err)
{
    stream_arg_t sa = {.path = path, .fn = fn, .arg = arg};
    int st = with_failover(c, true, stream_once, &sa, err);
    if (st > 0 && st != 200)
        error_from_answer(&sa.errbuf, st, err);
    gt_buf_free(&sa.errbuf);
    return st;
}

int cli_stream(const cli_t *c, const char *path, gt_error_t *err)
{
    return stream(c, path, NULL, NULL, err);
}

void cli_print_error(const char *cmd, int status, json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    if (msg)
        fprintf(stderr, "gantry %s: %s (%s, HTTP %d)\n", cmd, msg, code ? code : "error",
                status);
    else
        fprintf(stderr, "gantry %s: the server answered HTTP %d\n", cmd, status);
}

int cli_fail_request(const char *cmd, int status, json_t *resp, const gt_error_t *err)
{
    if (status < 0)
        fprintf(stderr, "gantry %s: %s\n", cmd, err->msg);
    else
        cli_print_error(cmd, status, resp);
    json_decref(resp);
    return 1;
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s);
    free(s);
}

void cli_print_yaml(json_t *v)
{
    gt_error_t err = {0};
    char *text = gt_yaml_emit(v, &err);
    if (!text) {
        fprintf(stderr, "gantry: %s\n", err.msg);
        return;
    }
    fputs(text, stdout);
    free(text);
}

json_t *cli_yaml_to_json(const char *text, size_t len, gt_error_t *err)
{
    return gt_yaml_read(text, len, err);
}

int cli_env_arg(json_t *obj, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -1;
    json_t *env = json_object_get(obj, "env");
    if (!env)
        json_object_set_new(obj, "env", env = json_object());
    char *k = strndup(arg, (size_t)(eq - arg));
    json_object_set_new(env, k, json_string(eq + 1));
    free(k);
    return 0;
}

json_t *cli_mount_arg(const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg || colon[1] != '/')
        return NULL;
    char *vol = strndup(arg, (size_t)(colon - arg)), *path = xstrdup(colon + 1);
    char *slash = strchr(vol, '/');
    json_t *m = json_object();
    if (slash) {
        *slash = '\0';
        json_object_set_new(m, "sub_path", json_string(slash + 1));
    }
    json_object_set_new(m, "volume", json_string(vol));
    char *mode = strrchr(path, ':');
    if (mode && (!strcmp(mode, ":ro") || !strcmp(mode, ":rw"))) {
        json_object_set_new(m, "read_only", json_boolean(!strcmp(mode, ":ro")));
        *mode = '\0';
    }
    json_object_set_new(m, "path", json_string(path));
    free(vol);
    free(path);
    return m;
}

const char *cli_str(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

char *cli_escape(const char *s)
{
    gt_buf_t b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~", *p))
            gt_buf_append(&b, (const char *)p, 1);
        else
            gt_buf_printf(&b, "%%%02X", *p);
    }
    if (!b.data)
        return xstrdup("");
    return b.data;
}

int cli_job_ref(const char *cmd, const char *s, char *ref, size_t len)
{
    uint64_t id;
    int64_t index;
    if (gt_job_ref_parse(s, &id, &index) < 0) {
        fprintf(stderr, "gantry %s: '%s' is not a job id (N, or N_M for array N's task with "
                        "index M)\n", cmd, s);
        return -1;
    }
    if (index >= 0)
        snprintf(ref, len, "%lld_%lld", (long long)id, (long long)index);
    else
        snprintf(ref, len, "%lld", (long long)id);
    return 0;
}

const char *cli_job_name(const json_t *job, char *buf, size_t len)
{
    json_t *aid = json_object_get(job, "array_id");
    if (json_is_integer(aid))
        snprintf(buf, len, "%lld_%lld", (long long)json_integer_value(aid),
                 (long long)json_integer_value(json_object_get(job, "array_index")));
    else
        snprintf(buf, len, "%lld", (long long)json_integer_value(json_object_get(job, "id")));
    return buf;
}

int cli_dependency_arg(json_t *job, const char *arg, gt_error_t *err)
{
    const char *hint = "write afterok:ID[:ID...], afterany:ID, afternotok:ID or singleton, "
                       "separated by ','";
    if (!*arg)
        return gt_error_invalid(err, "--dependency is empty: %s", hint);
    if (strchr(arg, '?'))
        return gt_error_invalid(err, "--dependency=%s: '?' (any one of) is not supported: "
                                     "gantry waits for every dependency (separate them with ',')",
                                arg);
    json_t *deps = json_array();
    bool singleton = false;
    char *copy = xstrdup(arg), *save = NULL;
    int rc = -1;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (!strcmp(item, "singleton")) {
            singleton = true;
            continue;
        }
        char *colon = strchr(item, ':');
        if (colon)
            *colon = '\0';
        if (strcmp(item, "afterok") && strcmp(item, "afterany") && strcmp(item, "afternotok")) {
            gt_error_invalid(err, "--dependency=%s: dependency type '%s' is not supported: %s",
                             arg, item, hint);
            goto out;
        }
        if (!colon || !colon[1]) {
            gt_error_invalid(err, "--dependency=%s: '%s' names no job: %s", arg, item, hint);
            goto out;
        }
        char *isave = NULL;
        for (char *id = strtok_r(colon + 1, ":", &isave); id; id = strtok_r(NULL, ":", &isave)) {
            uint64_t n;
            int64_t index;
            if (gt_job_ref_parse(id, &n, &index) < 0) {
                gt_error_invalid(err, "--dependency=%s: '%s' is not a job id (N, or N_M for "
                                      "array N's task with index M; +TIME is not supported)",
                                 arg, id);
                goto out;
            }
            json_array_append_new(deps, json_pack("{s:s,s:o}", "type", item, "job",
                                                  index >= 0 ? json_string(id)
                                                             : json_integer((json_int_t)n)));
        }
    }
    if (json_array_size(deps)) {
        json_t *old = json_object_get(job, "dependencies");
        if (json_is_array(old))
            json_array_extend(old, deps);
        else
            json_object_set(job, "dependencies", deps);
    }
    if (singleton)
        json_object_set_new(job, "singleton", json_true());
    rc = 0;
out:
    json_decref(deps);
    free(copy);
    return rc;
}

int cli_stream_lines(const cli_t *c, const char *path, int (*fn)(void *arg, const char *line),
                     void *arg, gt_error_t *err)
{
    return stream(c, path, fn, arg, err);
}

/* ---- artifacts: bodies from and to files (cli_artifact.c) ---- */

typedef struct fd_source {
    int fd;
    uint64_t at, left;
} fd_source_t;

static size_t from_fd(char *p, size_t sz, size_t n, void *arg)
{
    fd_source_t *src = arg;
    size_t want = sz * n < src->left ? sz * n : (size_t)src->left;
    if (!want)
        return 0;
    ssize_t k;
    do
        k = pread(src->fd, p, want, (off_t)src->at);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return CURL_READFUNC_ABORT;
    src->at += (uint64_t)k;
    src->left -= (uint64_t)k;
    return (size_t)k;
}

int cli_send_fd(const cli_t *c, const char *method, const char *path, int fd, uint64_t offset,
                uint64_t len, json_t **out, gt_error_t *err)
{
    struct curl_slist *hdrs = NULL;
    gt_transport_guard_t guard;
    *out = NULL;
    CURL *h = prepare(c, method, path, &hdrs, "Content-Type: application/octet-stream", &guard,
                      err);
    if (!h) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    fd_source_t src = {fd, offset, len};
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, from_fd);
    curl_easy_setopt(h, CURLOPT_READDATA, &src);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    gt_buf_t buf = {0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        gt_buf_free(&buf);
        return unreachable(c, rc, &guard, err);
    }
    if (buf.len)
        *out = json_loadb(buf.data, buf.len, 0, NULL);
    gt_buf_free(&buf);
    return (int)status;
}

typedef struct fd_sink {
    CURL *h;
    int fd;
    gt_buf_t errbuf;
    bool failed;
    bool ranged;             /* a Range request: 206 is the answer expected */
    bool restarted;          /* it was answered 200: fd was truncated */
} fd_sink_t;

static size_t to_fd(char *p, size_t sz, size_t n, void *arg)
{
    fd_sink_t *s = arg;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 && !(status == 206 && s->ranged)) {
        if (s->errbuf.len < 65536)
            gt_buf_append(&s->errbuf, p, sz * n);
        return sz * n;
    }
    if (status == 200 && s->ranged && !s->restarted) {
        /* the whole body after all: it replaces what fd had */
        s->restarted = true;
        if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0) {
            s->failed = true;
            return 0;
        }
    }
    size_t left = sz * n;
    while (left) {
        ssize_t k = write(s->fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            s->failed = true;
            return 0;
        }
        p += k;
        left -= (size_t)k;
    }
    return sz * n;
}

int cli_download_fd(const cli_t *c, const char *path, int fd, gt_error_t *err)
{
    return cli_download_fd_from(c, path, fd, 0, NULL, err);
}

int cli_download_fd_from(const cli_t *c, const char *path, int fd, uint64_t offset, bool *whole,
                         gt_error_t *err)
{
    struct curl_slist *hdrs = NULL;
    gt_transport_guard_t guard;
    CURL *h = prepare(c, "GET", path, &hdrs, NULL, &guard, err);
    if (!h) {
        curl_slist_free_all(hdrs);
        return -1;
    }
    fd_sink_t sink = {.h = h, .fd = fd, .ranged = offset > 0};
    char range[48];
    if (offset > 0) {
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)offset);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
        if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
            curl_easy_cleanup(h);
            curl_slist_free_all(hdrs);
            return gt_error_set(err, "io_error", "cannot seek to byte %llu: %s",
                                (unsigned long long)offset, strerror(errno));
        }
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_fd);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (sink.failed) {
        gt_buf_free(&sink.errbuf);
        errno = EIO;
        return gt_error_set(err, "io_error", "cannot write the download: %s", strerror(errno));
    }
    if (rc != CURLE_OK) {
        gt_buf_free(&sink.errbuf);
        return unreachable(c, rc, &guard, err);
    }
    if (status != 200 && !(status == 206 && sink.ranged))
        error_from_answer(&sink.errbuf, status, err);
    gt_buf_free(&sink.errbuf);
    if (whole)
        *whole = status == 200;
    return (int)status;
}
