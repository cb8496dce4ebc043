/* http.c: libmicrohttpd glue. A pool of threads (one per core, epoll) serves every connection;
 * no handler may block one of them, so a request that waits is parked (suspended) instead:
 * - a write is answered once its group commit is durable: the handler sets resp->ticket, the
 *   connection is parked and the store's committer resumes it;
 * - an agent's long poll (GET /v1/agent/work) runs on a thread of its own, which resumes the
 *   connection with the answer;
 * - a log follow whose reader has nothing yet is parked until a chunk lands (or a 250 ms tick).
 * The bearer token is resolved as soon as the header is in, before any body byte is read: a
 * request without a valid token is answered at once (401) and its body never read. A body is
 * collected up to SERVER_MAX_BODY, within the server's budget for bodies held at once, then
 * api_route(). Deadlines per phase of a connection (header, body) are conn_guard.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conn_guard.h"
#include "server/conn_limit.h"
#include "server/server.h"
#include "server/services.h"
#include "server/tls.h"
#include "server/tracking.h"

typedef struct conn_ctx {
    gt_buf_t body;
    bool too_large;
    bool over_budget;        /* the server's budget for bodies could not hold this one */
    size_t reserved;         /* bytes of that budget this request holds */
    bool authed;             /* resolved from the header, before the body */
    auth_principal_t who;
    bool answered;           /* resp holds the answer (after a park) */
    http_resp_t resp;
    server_t *srv;
    struct MHD_Connection *conn;
    http_req_t req;          /* for the long-poll thread */
    void *upload;            /* an artifact upload's body goes to disk (api_artifacts.c), not
                                to body */
    bool upgraded;           /* answered 101: the socket is attach.c's now */
} conn_ctx_t;

/* Suspends c; false when shutdown closed parking (the caller answers inline then). */
static bool park(server_t *srv, struct MHD_Connection *c)
{
    pthread_mutex_lock(&srv->park_mu);
    bool can = !srv->park_closed;
    if (can) {
        srv->parked++;
        MHD_suspend_connection(c);
    }
    pthread_mutex_unlock(&srv->park_mu);
    return can;
}

static void unpark(server_t *srv, struct MHD_Connection *c)
{
    MHD_resume_connection(c);
    pthread_mutex_lock(&srv->park_mu);
    srv->parked--;
    pthread_cond_broadcast(&srv->park_cond);
    pthread_mutex_unlock(&srv->park_mu);
}

static void on_committed(void *arg)
{
    conn_ctx_t *ctx = arg;
    unpark(ctx->srv, ctx->conn);
}

const char *http_query(const http_req_t *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(const http_req_t *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

int http_error(http_resp_t *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp->status = status;
    json_decref(resp->json);
    resp->json = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    return 0;
}

int http_error_from(http_resp_t *resp, int status, const gt_error_t *err)
{
    int st = status;
    if (!strcmp(err->code, "store_error"))
        st = 503;
    return http_error(resp, st, err->code[0] ? err->code : "invalid_argument", "%s", err->msg);
}

json_t *http_body_json(const http_req_t *r, http_resp_t *resp)
{
    json_error_t je;
    if (!r->body_len) {
        http_error(resp, 400, "invalid_argument", "the request needs a JSON body");
        return NULL;
    }
    json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        http_error(resp, 400, "invalid_json", "the body is not valid JSON: %s (line %d, "
                   "column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        http_error(resp, 400, "invalid_argument", "the body must be a JSON object");
        return NULL;
    }
    return o;
}

typedef struct stream_ctx {
    http_resp_t r;
    server_t *srv;
    struct MHD_Connection *conn;
} stream_ctx_t;

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx_t *s = cls;
    ssize_t n = s->r.stream_read(s->r.stream, pos, buf, max);
    if (n != 0)
        return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
    /* Nothing yet: park until output lands; at shutdown, end instead. */
    server_t *srv = s->srv;
    pthread_mutex_lock(&srv->park_mu);
    if (srv->park_closed) {
        pthread_mutex_unlock(&srv->park_mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    GT_GROW(srv->follows, srv->follows_cap, srv->nfollows + 1);
    srv->follows[srv->nfollows++] = s->conn;
    srv->parked++;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&srv->park_mu);
    return 0;
}

void http_wake_follows(server_t *srv)
{
    pthread_mutex_lock(&srv->park_mu);
    for (size_t i = 0; i < srv->nfollows; i++)
        MHD_resume_connection(srv->follows[i]);
    srv->parked -= srv->nfollows;
    srv->nfollows = 0;
    pthread_cond_broadcast(&srv->park_cond);
    pthread_mutex_unlock(&srv->park_mu);
}

void http_unpark_all(server_t *srv)
{
    pthread_mutex_lock(&srv->park_mu);
    srv->park_closed = true;
    pthread_mutex_unlock(&srv->park_mu);
    http_wake_follows(srv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    pthread_mutex_lock(&srv->park_mu);
    while (srv->parked > 0 && pthread_cond_timedwait(&srv->park_cond, &srv->park_mu, &ts) == 0)
        ;
    if (srv->parked > 0)
        fprintf(stderr, "gantry server: %zu connections still wait after 2 s.\n", srv->parked);
    pthread_mutex_unlock(&srv->park_mu);
}

static void stream_free_cb(void *cls)
{
    stream_ctx_t *s = cls;
    if (s->r.stream_free)
        s->r.stream_free(s->r.stream);
    free(s);
}

static void run_apply(server_t *srv, http_resp_t *resp, int rc, const gt_error_t *err)
{
    void (*apply)(server_t *, http_resp_t *, int, const gt_error_t *) = resp->apply;
    resp->apply = NULL;
    apply(srv, resp, rc, err);
}

typedef struct upgrade_ctx {
    server_t *srv;
    void (*fn)(server_t *srv, void *arg, int fd, const char *extra, size_t n, void *urh);
    void *arg;
} upgrade_ctx_t;

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                       size_t n, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)c;
    (void)req_cls;
    upgrade_ctx_t *u = cls;
    u->fn(u->srv, u->arg, (int)sock, extra, n, urh);
    free(u);
}

static enum MHD_Result send_resp(server_t *srv, struct MHD_Connection *c, http_resp_t *resp)
{
    struct MHD_Response *r;
    if (resp->upgrade) {
        upgrade_ctx_t *u = xcalloc(1, sizeof(*u));
        *u = (upgrade_ctx_t){srv, resp->upgrade, resp->upgrade_arg};
        r = MHD_create_response_for_upgrade(on_upgrade, u);
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, resp->upgrade_proto);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
        MHD_destroy_response(r);
        if (ret != MHD_YES) {
            u->fn(srv, u->arg, -1, NULL, 0, NULL);
            free(u);
        }
        json_decref(resp->json);
        free(resp->text);
        return ret;
    }
    if (resp->ticket) {
        gt_error_t err = {0};
        int rc = store_wait(srv->store, resp->ticket, &err); /* settled: returns at once */
        if (resp->apply)
            run_apply(srv, resp, rc, &err);
        else if (rc < 0)
            http_error_from(resp, 503, &err);
    }
    if (resp->stream_read) {
        stream_ctx_t *s = xcalloc(1, sizeof(*s));
        s->r = *resp;
        s->srv = srv;
        s->conn = c;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb, s,
                                              stream_free_cb);
        MHD_add_response_header(r, "Content-Type",
                                resp->content_type ? resp->content_type : "text/plain");
    } else if (resp->has_file) {
        r = MHD_create_response_from_fd_at_offset64(resp->file_size, resp->file_fd,
                                                    resp->file_offset);
        resp->has_file = false;
        MHD_add_response_header(r, "Content-Type",
                                resp->content_type ? resp->content_type : "text/plain");
        MHD_add_response_header(r, "Accept-Ranges", "bytes");
    } else if (resp->data) {
        r = MHD_create_response_from_buffer(resp->data_len, (void *)resp->data,
                                            MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type",
                                resp->content_type ? resp->content_type : "text/plain");
    } else if (resp->body) {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        resp->body = NULL;
        if (resp->body_type[0])
            MHD_add_response_header(r, "Content-Type", resp->body_type);
    } else if (resp->text) {
        r = MHD_create_response_from_buffer(strlen(resp->text), resp->text,
                                            MHD_RESPMEM_MUST_FREE);
        resp->text = NULL;
        MHD_add_response_header(r, "Content-Type",
                                resp->content_type ? resp->content_type : "text/plain");
    } else {
        char *s = resp->json ? json_dumps(resp->json, JSON_COMPACT) : xstrdup("{}");
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n';
        s[n + 1] = 0;
        r = MHD_create_response_from_buffer(n + 1, s, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "application/json");
    }
    if (resp->location[0])
        MHD_add_response_header(r, "Location", resp->location);
    if (resp->content_range[0]) /* a blob's bytes from an offset (206), or a 416 */
        MHD_add_response_header(r, "Content-Range", resp->content_range);
    if (resp->content_encoding)
        MHD_add_response_header(r, "Content-Encoding", resp->content_encoding);
    if (resp->etag)
        MHD_add_response_header(r, "ETag", resp->etag);
    if (resp->cache_control)
        MHD_add_response_header(r, "Cache-Control", resp->cache_control);
    if (resp->vary)
        MHD_add_response_header(r, "Vary", resp->vary);
    if (resp->page_headers) {
        /* The page runs only its own files: no inline script, no other origin, no frame. */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    if (resp->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (resp->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    json_decref(resp->json);
    free(resp->text);
    free(resp->body);
    return ret;
}

static void *long_poll_main(void *arg)
{
    conn_ctx_t *ctx = arg;
    api_route(ctx->srv, &ctx->req, &ctx->resp);
    ctx->answered = true;
    unpark(ctx->srv, ctx->conn);
    return NULL;
}

/* The first call, once the header is in: checks the token, the declared length and the body
 * budget before any byte of the body is read. true when it answered already. */
static bool on_header(server_t *srv, struct MHD_Connection *c, conn_ctx_t *ctx,
                      const char *url, const char *method, enum MHD_Result *ret)
{
    if (conn_guard_over(srv->guard, c)) {
        /* Opened while the server held --max-connections: said, then closed (not a socket
         * shut without a word, which a client reads as a network fault). */
        http_resp_t resp = {.status = 200, .close = true};
        http_error(&resp, 503, "too_many_connections", "the server holds its limit of %u "
                   "open connections (--max-connections): retry in a moment; its operator "
                   "can raise the limit (and the open-file limit it follows)",
                   srv->limits.max_connections);
        *ret = send_resp(srv, c, &resp);
        return true;
    }
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    http_token_t presented = authz ? HTTP_TOKEN_NOT_BEARER : HTTP_TOKEN_NONE;
    if (authz && !strncasecmp(authz, "Bearer ", 7)) {
        ctx->authed = auth_lookup(srv->auth, authz + 7, &ctx->who);
        /* A job's own token (server/tracking.h): its principal may only write that job's
         * metrics (api_route sends it to api_tracking_job_token and nowhere else). */
        if (!ctx->authed && srv->tracking &&
            tracking_token_check(srv->tracking, authz + 7, &ctx->who.job_id,
                                 &ctx->who.job_inc)) {
            snprintf(ctx->who.user, sizeof(ctx->who.user), "job %llu",
                     (unsigned long long)ctx->who.job_id);
            ctx->who.role = AUTH_VIEWER;
            ctx->authed = true;
        }
        auth_principal_t past;
        /* Known at time 0 but not now: it expired (expiry is the only time rule). */
        presented = !ctx->authed && auth_lookup_at(srv->auth, authz + 7, 0, &past)
                        ? HTTP_TOKEN_EXPIRED
                        : HTTP_TOKEN_UNKNOWN;
    }
    http_resp_t resp = {.status = 200};
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    char *end = NULL;
    unsigned long long declared = cl ? strtoull(cl, &end, 10) : 0;
    if (!ctx->authed) {
        /* Nobody may make the server read a body: answer now from the header alone (401 on
         * /v1/, 404 elsewhere, /healthz). libmicrohttpd then closes without reading it. */
        http_req_t req = {.method = method, .path = url, .conn = c, .token = presented};
        api_route(srv, &req, &resp);
        *ret = send_resp(srv, c, &resp);
        return true;
    }
    if (!strcmp(method, "PATCH") && !strncmp(url, "/v1/artifacts/uploads/", 22)) {
        /* an upload: its body streams to disk as it comes, never held in memory, of any size */
        http_req_t req = {.method = method, .path = url, .conn = c, .who = ctx->who,
                          .authed = true};
        if (api_artifacts_upload_begin(srv, &req, &ctx->upload, &resp) < 0) {
            *ret = send_resp(srv, c, &resp);
            return true;
        }
        conn_guard_phase(srv->guard, c, CONN_BODY);
        return false;
    }
    if (cl && declared > SERVER_MAX_BODY) {
        http_error(&resp, 413, "payload_too_large", "the request body is larger than %d bytes",
                   SERVER_MAX_BODY);
        *ret = send_resp(srv, c, &resp);
        return true;
    }
    if (cl && declared > 0) {
        if (!conn_guard_reserve(srv->guard, (size_t)declared)) {
            http_error(&resp, 503, "unavailable", "the server holds too many request bodies "
                       "at once; retry in a moment");
            *ret = send_resp(srv, c, &resp);
            return true;
        }
        ctx->reserved = (size_t)declared;
    }
    conn_guard_phase(srv->guard, c, CONN_BODY);
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    server_t *srv = cls;
    conn_ctx_t *ctx = *con_cls;
    if (!ctx) {
        ctx = xcalloc(1, sizeof(*ctx));
        ctx->srv = srv;
        ctx->conn = c;
        *con_cls = ctx;
        enum MHD_Result ret = MHD_YES;
        on_header(srv, c, ctx, url, method, &ret);
        return ret;
    }
    if (ctx->answered) { /* resumed after a park */
        ctx->answered = false;
        http_resp_t resp = ctx->resp;
        memset(&ctx->resp, 0, sizeof(ctx->resp));
        return send_resp(srv, c, &resp);
    }
    if (ctx->upload) {
        if (*upload_size) {
            api_artifacts_upload_data(ctx->upload, upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        conn_guard_phase(srv->guard, c, CONN_HANDLING);
        http_resp_t resp = {.status = 200};
        void *w = ctx->upload;
        ctx->upload = NULL;
        api_artifacts_upload_end(srv, w, &resp);
        return send_resp(srv, c, &resp);
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (ctx->too_large || ctx->over_budget)
            return MHD_YES; /* read and dropped: the answer says why */
        if (ctx->body.len + n > SERVER_MAX_BODY) {
            ctx->too_large = true;
        } else if (ctx->body.len + n > ctx->reserved) {
            /* No length declared (chunked): the budget grows with the body. */
            size_t more = ctx->body.len + n - ctx->reserved;
            if (conn_guard_reserve(srv->guard, more))
                ctx->reserved += more;
            else
                ctx->over_budget = true;
        }
        if (ctx->too_large || ctx->over_budget) {
            gt_buf_free(&ctx->body);
            memset(&ctx->body, 0, sizeof(ctx->body));
        } else {
            gt_buf_append(&ctx->body, upload, n);
        }
        return MHD_YES;
    }
    conn_guard_phase(srv->guard, c, CONN_HANDLING);
    http_resp_t resp = {.status = 200};
    http_req_t req = {.method = method, .path = url, .conn = c, .body = ctx->body.data,
                      .body_len = ctx->body.len, .who = ctx->who, .authed = ctx->authed};
    if (ctx->too_large) {
        http_error(&resp, 413, "payload_too_large", "the request body is larger than %d bytes",
                   SERVER_MAX_BODY);
        return send_resp(srv, c, &resp);
    }
    if (ctx->over_budget) {
        http_error(&resp, 503, "unavailable", "the server holds too many request bodies at "
                   "once; retry in a moment");
        return send_resp(srv, c, &resp);
    }
    if ((!strcmp(method, "GET") && !strcmp(url, "/v1/agent/work")) ||
        services_proxy_path(url)) {
        /* A long poll waits up to its wait=: on a thread of its own, not a pool thread; so
         * does a request to a service's endpoint (it waits on the replica). */
        ctx->req = req;
        ctx->resp = resp;
        if (!park(srv, c)) { /* stopping: it answers at once */
            api_route(srv, &req, &resp);
            return send_resp(srv, c, &resp);
        }
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 * 1024);
        pthread_t th;
        if (pthread_create(&th, &at, long_poll_main, ctx) != 0) {
            pthread_attr_destroy(&at);
            http_error(&ctx->resp, 503, "unavailable", "the server cannot start a thread");
            ctx->answered = true;
            unpark(srv, c);
            return MHD_YES;
        }
        pthread_attr_destroy(&at);
        return MHD_YES;
    }
    api_route(srv, &req, &resp);
    if (resp.upgrade)
        ctx->upgraded = true;
    if (resp.ticket) {
        /* Answer once durable: park; the committer resumes the connection. */
        ctx->resp = resp;
        ctx->answered = true;
        if (!park(srv, c)) { /* stopping: wait here */
            ctx->answered = false;
            memset(&ctx->resp, 0, sizeof(ctx->resp));
            return send_resp(srv, c, &resp);
        }
        store_notify(srv->store, resp.ticket, on_committed, ctx);
        return MHD_YES;
    }
    return send_resp(srv, c, &resp);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    conn_ctx_t *ctx = *con_cls;
    server_t *srv = cls;
    /* The next request on this connection has the header deadline from now (keep-alive); an
     * upgraded one has none (it is a session's stream now). */
    if (!ctx || !ctx->upgraded)
        conn_guard_phase(srv->guard, c, CONN_HEADERS);
    if (ctx) {
        if (ctx->reserved)
            conn_guard_release(srv->guard, ctx->reserved);
        if (ctx->upload) /* cut mid-body: what arrived stays, the client resumes */
            api_artifacts_upload_abort(ctx->upload);
        /* An answer parked when the connection closed (shutdown, client gone). A committed
         * change still reaches memory. */
        if (ctx->resp.apply) {
            gt_error_t err = {0};
            int rc = store_wait(srv->store, ctx->resp.ticket, &err);
            run_apply(srv, &ctx->resp, rc, &err);
        }
        json_decref(ctx->resp.json);
        free(ctx->resp.text);
        free(ctx->resp.body);
        gt_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's messages, at most 20 a second: it logs one line per refused connection, and
 * an attacker must not be able to flood the server's log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static double window;
    static unsigned printed, dropped;
    pthread_mutex_lock(&mu);
    double now = gt_monotonic_s();
    if (now - window >= 1.0) {
        if (dropped)
            fprintf(stderr, "gantry server: libmicrohttpd: %u more messages in the last second "
                            "were not logged.\n", dropped);
        window = now;
        printed = dropped = 0;
    }
    if (printed < 20) {
        printed++;
        char msg[512];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = 0;
        fprintf(stderr, "gantry server: libmicrohttpd: %s\n", msg);
    } else {
        dropped++;
    }
    pthread_mutex_unlock(&mu);
}

int http_serve(server_t *srv, const char *listen, struct MHD_Daemon **out, gt_error_t *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "--listen '%s' must be ADDRESS:PORT, such as 127.0.0.1:8080", listen);
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    int64_t port;
    if (gt_parse_int64(colon + 1, 0, 65535, &port, err) < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "--listen address '%s' is not an IPv4 "
                                                     "address", host);
    }
    /* HTTPS when the server has a certificate: libmicrohttpd asks server/tls.c for the pair on
     * every handshake, so a reload (SIGHUP) reaches every new connection. TLS 1.2 and 1.3. */
    if (srv->tls && (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
                     MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)) {
        errno = ENOTSUP;
        return gt_error_set(err, "unavailable", "this libmicrohttpd was built without TLS "
                            "(GnuTLS): it cannot serve --tls-cert");
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, server_tls_retrieve()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL}};
    if (!srv->tls)
        tls_opts[0].option = MHD_OPTION_END;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = cores < 2 ? 2 : cores > 16 ? 16 : (unsigned)cores;
    const server_limits_t *lim = &srv->limits;
    srv->guard = conn_guard_new(lim->header_timeout_s, lim->body_timeout_s, lim->body_memory);
    if (!srv->guard)
        return gt_error_set(err, "internal", "cannot start the connection guard thread");
    /* Beyond --max-connections a connection is answered 503 (on_header), a few more than it
     * accepted by libmicrohttpd for that (conn_limit.h). */
    conn_guard_set_limit(srv->guard, lim->max_connections);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_ALLOW_UPGRADE |
            MHD_USE_ITC | MHD_USE_ERROR_LOG | (srv->tls ? MHD_USE_TLS : 0),
        /* the logger first: libmicrohttpd warns about any option placed before it */
        0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
        on_done, srv, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_THREAD_POOL_SIZE, pool,
        /* limits (server_limits_t): idle, per phase (the guard), per address, in all */
        MHD_OPTION_CONNECTION_LIMIT, lim->max_connections + CONN_LIMIT_REFUSE_MARGIN,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, lim->per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, lim->connection_timeout_s,
        MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, srv->guard,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d) {
        conn_guard_free(srv->guard);
        srv->guard = NULL;
        errno = EADDRINUSE;
        return gt_error_set(err, "unavailable", "cannot listen on %s (port in use?)", listen);
    }
    *out = d;
    return 0;
}
