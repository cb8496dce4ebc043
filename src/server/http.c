/* http.c: libmicrohttpd glue. One thread per connection (keep-alive), so that a handler may
 * block: waiting for its group commit, an agent's long poll, a log follow. Bodies are
 * collected up to SERVER_MAX_BODY, the bearer token is resolved, then api_route() runs. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

typedef struct conn_ctx {
    gt_buf_t body;
    bool too_large;
} conn_ctx_t;

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
} stream_ctx_t;

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx_t *s = cls;
    ssize_t n = s->r.stream_read(s->r.stream, pos, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free_cb(void *cls)
{
    stream_ctx_t *s = cls;
    if (s->r.stream_free)
        s->r.stream_free(s->r.stream);
    free(s);
}

static enum MHD_Result send_resp(struct MHD_Connection *c, http_resp_t *resp)
{
    struct MHD_Response *r;
    if (resp->stream_read) {
        stream_ctx_t *s = xcalloc(1, sizeof(*s));
        s->r = *resp;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb, s,
                                              stream_free_cb);
        MHD_add_response_header(r, "Content-Type",
                                resp->content_type ? resp->content_type : "text/plain");
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
    if (resp->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (resp->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    json_decref(resp->json);
    free(resp->text);
    return ret;
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
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (ctx->body.len + *upload_size > SERVER_MAX_BODY)
            ctx->too_large = true;
        else
            gt_buf_append(&ctx->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    http_resp_t resp = {.status = 200};
    http_req_t req = {.method = method, .path = url, .conn = c, .body = ctx->body.data,
                      .body_len = ctx->body.len};
    if (ctx->too_large) {
        http_error(&resp, 413, "payload_too_large", "the request body is larger than %d bytes",
                   SERVER_MAX_BODY);
        return send_resp(c, &resp);
    }
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (authz && !strncasecmp(authz, "Bearer ", 7))
        req.authed = auth_lookup(srv->auth, authz + 7, &req.who);
    api_route(srv, &req, &resp);
    return send_resp(c, &resp);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_ctx_t *ctx = *con_cls;
    if (ctx) {
        gt_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
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
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
        on_done, NULL, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!d) {
        errno = EADDRINUSE;
        return gt_error_set(err, "unavailable", "cannot listen on %s (port in use?)", listen);
    }
    *out = d;
    return 0;
}
