/* api_services.c: /v1/services (docs/services.md): list, show, scale, rolling update,
 * rollback, delete, and the endpoint: /v1/services/NAME/PATH proxied to a ready replica. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/services.h"

#define PROXY_TRIES 3                 /* replicas tried for one request */
#define PROXY_CONNECT_TIMEOUT_MS 1000L
#define PROXY_TIMEOUT_S 300L          /* a replica's whole answer */
#define PROXY_MAX_ANSWER (64L << 20)  /* bytes of one answer held in memory */

bool services_proxy_path(const char *url)
{
    if (strncmp(url, "/v1/services/", 13) != 0)
        return false;
    const char *slash = strchr(url + 13, '/');
    return slash && slash > url + 13;
}

/* ---- connections to replicas, kept alive and shared by the proxy's threads ---- */

static CURLSH *share;
static pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
static pthread_once_t share_once = PTHREAD_ONCE_INIT;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
    (void)h, (void)a, (void)u;
    pthread_mutex_lock(&share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
    (void)h, (void)u;
    pthread_mutex_unlock(&share_mu[d]);
}

static void share_init(void)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_mu[i], NULL);
    share = curl_share_init();
    if (!share)
        return;
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
}

/* ---- one proxied request ---- */

typedef struct answer {
    gt_buf_t body;
    char type[128];
    bool too_large;
} answer_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t len = size * n;
    if (a->body.len + len > (size_t)PROXY_MAX_ANSWER) {
        a->too_large = true;
        return 0;
    }
    gt_buf_append(&a->body, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    answer_t *a = arg;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
        const char *v = p + 13;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t k = (size_t)(p + len - v);
        while (k && (v[k - 1] == '\r' || v[k - 1] == '\n'))
            k--;
        snprintf(a->type, sizeof(a->type), "%.*s", (int)k, v);
    }
    return len;
}

typedef struct fwd {
    struct curl_slist *headers;
    gt_buf_t query;
    CURL *escaper;
} fwd_t;

/* The request's headers the replica gets: not the token (it is Gantry's, not the service's),
 * not those of this hop. */
static enum MHD_Result add_header(void *arg, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    fwd_t *f = arg;
    static const char *drop[] = {"Authorization", "Host", "Connection", "Content-Length",
                                 "Transfer-Encoding", "Keep-Alive", "Expect", "Upgrade",
                                 "Proxy-Authorization", "TE", "Trailer", NULL};
    for (int i = 0; drop[i]; i++)
        if (!strcasecmp(key, drop[i]))
            return MHD_YES;
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s: %s", key, value ? value : "");
    f->headers = curl_slist_append(f->headers, b.data);
    gt_buf_free(&b);
    return MHD_YES;
}

static enum MHD_Result add_arg(void *arg, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    fwd_t *f = arg;
    char *k = curl_easy_escape(f->escaper, key, 0);
    char *v = value ? curl_easy_escape(f->escaper, value, 0) : NULL;
    gt_buf_printf(&f->query, "%s%s%s%s", f->query.len ? "&" : "?", k ? k : "", v ? "=" : "",
                  v ? v : "");
    curl_free(k);
    curl_free(v);
    return MHD_YES;
}

/* Whether a failed try may go to the next replica: a connection refused or reset before any
 * answer; for a request that changes nothing (GET, HEAD, OPTIONS), any failure before an
 * answer. */
static bool may_retry(CURLcode rc, const char *method)
{
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT)
        return true;
    bool safe = !strcmp(method, "GET") || !strcmp(method, "HEAD") || !strcmp(method, "OPTIONS");
    return safe && (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
                    rc == CURLE_PARTIAL_FILE);
}

static int proxy(server_t *srv, http_req_t *req, http_resp_t *resp, const char *name,
                 const char *path)
{
    char addr[PROXY_TRIES][64];
    pthread_mutex_lock(&srv->mu);
    service_t *s = services_find(srv, name);
    if (!s || !auth_can_see_team(&req->who, services_team(s))) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "service '%s' does not exist", name);
    }
    int n = services_pick(srv, s, addr, PROXY_TRIES);
    pthread_mutex_unlock(&srv->mu);
    if (n == 0)
        return http_error(resp, 503, "unavailable", "service '%s' has no ready replica: see "
                          "`gantry services %s`", name, name);
    pthread_once(&share_once, share_init);
    CURL *h = curl_easy_init();
    if (!h) {
        pthread_mutex_lock(&srv->mu);
        services_done(srv, name);
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 503, "unavailable", "the server cannot make a request now");
    }
    fwd_t f = {.escaper = h};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &f);
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_arg, &f);
    const char *from = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[64] = "";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET &&
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof(ip)))
        from = ip;
    gt_buf_t xf = {0};
    gt_buf_printf(&xf, "X-Forwarded-For: %s", from);
    f.headers = curl_slist_append(f.headers, xf.data);
    gt_buf_free(&xf);
    gt_buf_t xu = {0};
    gt_buf_printf(&xu, "X-Gantry-User: %s", req->who.user);
    f.headers = curl_slist_append(f.headers, xu.data);
    gt_buf_free(&xu);
    f.headers = curl_slist_append(f.headers, "Expect:");
    bool has_body = req->body_len > 0 || !strcmp(req->method, "POST") ||
                    !strcmp(req->method, "PUT") || !strcmp(req->method, "PATCH");
    CURLcode rc = CURLE_COULDNT_CONNECT;
    long status = 0;
    answer_t a = {0};
    char err[CURL_ERROR_SIZE] = "";
    for (int i = 0; i < n; i++) {
        gt_buf_t url = {0};
        gt_buf_printf(&url, "http://%s/%s%s", addr[i], path, f.query.len ? f.query.data : "");
        curl_easy_reset(h);
        if (share)
            curl_easy_setopt(h, CURLOPT_SHARE, share);
        curl_easy_setopt(h, CURLOPT_URL, url.data);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        if (!strcmp(req->method, "HEAD"))
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        if (has_body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, f.headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, PROXY_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, PROXY_TIMEOUT_S);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
        rc = curl_easy_perform(h);
        gt_buf_free(&url);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            break;
        }
        if (!may_retry(rc, req->method) || a.too_large)
            break;
        gt_buf_free(&a.body);
        a = (answer_t){0};
    }
    curl_slist_free_all(f.headers);
    gt_buf_free(&f.query);
    curl_easy_cleanup(h);
    pthread_mutex_lock(&srv->mu);
    services_done(srv, name);
    pthread_mutex_unlock(&srv->mu);
    if (rc != CURLE_OK) {
        gt_buf_free(&a.body);
        if (a.too_large)
            return http_error(resp, 502, "bad_gateway", "service '%s' answered more than %ld "
                              "MiB", name, PROXY_MAX_ANSWER >> 20);
        return http_error(resp, 502, "bad_gateway", "service '%s': no replica answered (%s)",
                          name, err[0] ? err : curl_easy_strerror(rc));
    }
    resp->status = (int)status;
    resp->body = a.body.data ? a.body.data : xstrdup("");
    resp->body_len = a.body.len;
    snprintf(resp->body_type, sizeof(resp->body_type), "%s", a.type);
    return 0;
}

/* ---- management ---- */

static bool method(const http_req_t *r, const char *m) { return !strcmp(r->method, m); }

/* Who may change a service: its team's members who may submit to it (and admins). */
static bool may_change(const http_req_t *req, service_t *s)
{
    return auth_can_use_team(&req->who, services_team(s));
}

/* A change: checked and queued under srv->mu (held on entry, dropped on return), applied to
 * memory only once the store has committed it (a refused commit: 503, nothing changed). */
static int patch(server_t *srv, http_req_t *req, http_resp_t *resp, service_t *s)
{
    json_t *body = http_body_json(req, resp);
    if (!body) {
        pthread_mutex_unlock(&srv->mu);
        return -1;
    }
    gt_error_t err = {0};
    int status = 400;
    json_t *replicas = json_object_get(body, "replicas"), *spec = json_object_get(body, "spec");
    json_t *rollback = json_object_get(body, "rollback");
    json_t *autoscale = json_object_get(body, "autoscale");
    services_change_t c = {.replicas = -1, .spec = spec, .rollback = json_is_true(rollback)};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "replicas") && strcmp(k, "spec") && strcmp(k, "rollback") &&
            strcmp(k, "autoscale")) {
            gt_error_set(&err, "invalid_argument", "unknown field '%s': a service change has "
                         "replicas, spec (a rolling update), rollback or autoscale", k);
            goto refused;
        }
    }
    if (!replicas && !spec && !c.rollback && !autoscale) {
        gt_error_set(&err, "invalid_argument", "say what to change: replicas, spec (a rolling "
                     "update), rollback: true or autoscale");
        goto refused;
    }
    if (autoscale && (replicas || spec || rollback)) {
        gt_error_set(&err, "invalid_argument", "autoscale is changed alone");
        goto refused;
    }
    if (autoscale) {
        json_t *mn = json_object_get(autoscale, "min"), *mx = json_object_get(autoscale, "max");
        json_t *tg = json_object_get(autoscale, "target");
        if (!json_is_object(autoscale) || !json_is_integer(mn) || !json_is_integer(mx) ||
            (tg && !json_is_number(tg)) || json_integer_value(mn) < 0 ||
            json_integer_value(mx) > 1000) {
            gt_error_set(&err, "invalid_argument", "autoscale must be {\"min\": N, \"max\": M, "
                         "\"target\": REQUESTS_IN_FLIGHT_PER_REPLICA} (target default 4); "
                         "{\"min\": 0, \"max\": 0} turns it off");
            goto refused;
        }
        c.autoscale = true;
        c.as_min = (int)json_integer_value(mn);
        c.as_max = (int)json_integer_value(mx);
        c.as_target = tg ? json_number_value(tg) : 4.0;
    }
    if (spec && c.rollback) {
        gt_error_set(&err, "invalid_argument", "a change is either a new spec or a rollback, "
                     "not both");
        goto refused;
    }
    if (replicas && (!json_is_integer(replicas) || json_integer_value(replicas) < 0 ||
                     json_integer_value(replicas) > 1000)) {
        gt_error_set(&err, "invalid_argument", "replicas must be a whole number from 0 to 1000");
        goto refused;
    }
    if (replicas)
        c.replicas = (int)json_integer_value(replicas);
    json_t *record = NULL;
    uint64_t ticket = 0;
    if (services_change(srv, s, &c, &req->who, &record, &ticket, &err) < 0) {
        status = !strcmp(err.code, "conflict") ? 409 : 400;
        goto refused;
    }
    json_decref(body);
    char name[129];
    snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(record, "name")));
    pthread_mutex_unlock(&srv->mu);
    int rc = store_wait(srv->store, ticket, &err);
    pthread_mutex_lock(&srv->mu);
    s = services_change_done(srv, name, record, rc == 0);
    if (rc == 0 && s)
        resp->json = services_view(srv, s, true, http_header(req, "Host"));
    pthread_mutex_unlock(&srv->mu);
    if (rc < 0)
        return http_error_from(resp, 503, &err);
    if (!resp->json)
        return http_error(resp, 404, "not_found", "service '%s' does not exist", name);
    return 0;
refused:
    pthread_mutex_unlock(&srv->mu);
    json_decref(body);
    return http_error_from(resp, status, &err);
}

int api_services(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest)
{
    if (req->who.role == AUTH_AGENT || req->who.role == AUTH_NODE)
        return http_error(resp, 403, "forbidden", "agents can't use services");
    const char *host = http_header(req, "Host");
    if (!*rest) {
        if (!method(req, "GET"))
            return http_error(resp, 405, "method_not_allowed", "use GET on /v1/services; a "
                              "service is created by submitting a job of kind service");
        pthread_mutex_lock(&srv->mu);
        resp->json = json_pack("{s:o}", "services", services_list(srv, &req->who, host));
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    char name[129];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= sizeof(name))
        return http_error(resp, 404, "not_found", "no such service");
    memcpy(name, rest, len);
    name[len] = 0;
    if (slash)
        return proxy(srv, req, resp, name, slash + 1);
    pthread_mutex_lock(&srv->mu);
    service_t *s = services_find(srv, name);
    if (!s || !auth_can_see_team(&req->who, services_team(s))) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 404, "not_found", "service '%s' does not exist", name);
    }
    if (method(req, "GET")) {
        resp->json = services_view(srv, s, true, host);
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    if (!may_change(req, s)) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 403, "forbidden", "user %s may not change service '%s' of team "
                          "'%s'", req->who.user, name, services_team(s));
    }
    if (method(req, "PATCH")) {
        patch(srv, req, resp, s);
        return 0;
    }
    if (method(req, "DELETE") && services_changing(s)) {
        pthread_mutex_unlock(&srv->mu);
        return http_error(resp, 409, "conflict", "service '%s': a change of it is being saved; "
                          "try again", name);
    }
    if (method(req, "DELETE")) {
        resp->ticket = services_delete(srv, s);
        resp->json = json_pack("{s:s,s:b}", "name", name, "deleted", 1);
        pthread_mutex_unlock(&srv->mu);
        return 0;
    }
    pthread_mutex_unlock(&srv->mu);
    return http_error(resp, 405, "method_not_allowed", "use GET, PATCH or DELETE on "
                      "/v1/services/NAME, any method on /v1/services/NAME/PATH (the endpoint)");
}
