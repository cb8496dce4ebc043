#include "agent/client.h"

#include "common/urllist.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct xfer {
    CURL *easy;
    struct curl_slist *headers;
    gt_buf_t body;       /* the answer */
    char *sent;          /* the request body, kept until the transfer ends */
    char errbuf[CURL_ERROR_SIZE];
    gt_transport_guard_t guard;
} xfer_t;

struct client {
    gt_urllist_t urls;   /* the servers (one, or several: docs/ha.md) */
    size_t cur;          /* the one in use: base */
    char *base;
    gt_transport_t tp;
    char *auth;
    xfer_t call, poll;
    CURLM *multi;
    bool polling, poll_done;
    CURLcode poll_rc;
};

static int local_address(const char *base, char *buf, size_t len, gt_error_t *err);

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    gt_buf_append(ud, p, size * n);
    return size * n;
}

/* (Re)builds x's request headers around c's current Authorization line. */
static void xfer_headers(const client_t *c, xfer_t *x)
{
    curl_slist_free_all(x->headers);
    x->headers = curl_slist_append(NULL, c->auth);
    x->headers = curl_slist_append(x->headers, "Content-Type: application/json");
    x->headers = curl_slist_append(x->headers, "Expect:");
}

static int xfer_init(client_t *c, xfer_t *x, gt_error_t *err)
{
    x->easy = curl_easy_init();
    if (!x->easy)
        return gt_error_set(err, "internal", "cannot initialise libcurl");
    if (gt_transport_apply(x->easy, c->base, &c->tp, &x->guard, err) < 0)
        return -1;
    xfer_headers(c, x);
    return 0;
}

static void xfer_prepare(client_t *c, xfer_t *x, const char *method, const char *path,
                         json_t *body, long timeout_ms)
{
    CURL *e = x->easy;
    char *url = xmalloc(strlen(c->base) + strlen(path) + 1);
    strcpy(url, c->base);
    strcat(url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x->body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    free(x->sent);
    x->sent = NULL;
    x->body.len = 0;
    x->errbuf[0] = '\0';
    x->guard.refused = false;
    if (!strcmp(method, "POST")) {
        x->sent = body ? json_dumps(body, JSON_COMPACT) : xstrdup("{}");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->sent);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(x->sent));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
}

static int xfer_finish(client_t *c, xfer_t *x, CURLcode rc, long *status, json_t **out,
                       gt_error_t *err)
{
    *out = NULL;
    *status = 0;
    if (rc != CURLE_OK && gt_transport_refused(&x->guard, c->base, err))
        return -1;
    if (rc != CURLE_OK)
        return gt_error_set(err, "unavailable", "%s",
                            x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, status);
    if (x->body.len)
        *out = json_loadb(x->body.data, x->body.len, 0, NULL);
    if (*status >= 400 && err) {
        json_t *e = json_object_get(*out, "error");
        gt_error_set(err, json_string_value(json_object_get(e, "code")) ?: "http",
                     "HTTP %ld: %s", *status,
                     json_string_value(json_object_get(e, "message")) ?: "(no message)");
    }
    return 0;
}

client_t *client_new(const char *base, const char *token, const gt_transport_t *tp,
                     gt_error_t *err)
{
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    client_t *c = xcalloc(1, sizeof(*c));
    if (gt_urllist_parse(base, &c->urls, err) < 0) {
        free(c);
        return NULL;
    }
    c->base = xstrdup(c->urls.urls[0]);
    if (tp)
        c->tp = *tp;
    gt_buf_t a = {0};
    gt_buf_printf(&a, "Authorization: Bearer %s", token ? token : "");
    c->auth = a.data;
    c->multi = curl_multi_init();
    if (!c->multi) {
        client_free(c);
        gt_error_set(err, "internal", "cannot initialise libcurl");
        return NULL;
    }
    if (xfer_init(c, &c->call, err) < 0 || xfer_init(c, &c->poll, err) < 0) {
        client_free(c);
        return NULL;
    }
    return c;
}

static void xfer_free(xfer_t *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    gt_buf_free(&x->body);
    free(x->sent);
}

void client_free(client_t *c)
{
    if (!c)
        return;
    if (c->polling)
        curl_multi_remove_handle(c->multi, c->poll.easy);
    xfer_free(&c->call);
    xfer_free(&c->poll);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->base);
    free(c->auth);
    gt_urllist_free(&c->urls);
    free(c);
}

const char *client_server(const client_t *c)
{
    return c->base;
}

/* Moves to the server at index i of the list (a running long poll is abandoned: it went to
 * the one before). */
static void switch_to(client_t *c, size_t i)
{
    client_poll_cancel(c);
    c->cur = i % c->urls.n;
    free(c->base);
    c->base = xstrdup(c->urls.urls[c->cur]);
    gt_error_t e = {0};
    /* The same settings on another URL of the list: cannot fail where the first did not,
     * except for a URL gt_transport_check refused at start (then every call fails). */
    gt_transport_apply(c->call.easy, c->base, &c->tp, &c->call.guard, &e);
    gt_transport_apply(c->poll.easy, c->base, &c->tp, &c->poll.guard, &e);
}

/* After a transfer on x: whether to try the next server (several given): its connection
 * failed, or it answered as a standby (307, 503 not_leader). Moves there when so; the
 * standby's Location is followed only when it is one of the list's URLs. */
static bool fail_over(client_t *c, xfer_t *x, CURLcode rc)
{
    if (c->urls.n < 2 || x->guard.refused)
        return false;
    long status = 0;
    char code[64] = "";
    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        json_t *j = x->body.len ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
        const char *cd = json_string_value(json_object_get(json_object_get(j, "error"),
                                                           "code"));
        snprintf(code, sizeof(code), "%s", cd ? cd : "");
        json_decref(j);
        if (!gt_urllist_not_leader(status, code))
            return false;
    }
    char *loc = NULL;
    int hint = -1;
    if (rc == CURLE_OK && curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK)
        hint = gt_urllist_find(&c->urls, loc);
    switch_to(c, hint >= 0 && (size_t)hint != c->cur ? (size_t)hint : c->cur + 1);
    return true;
}

void client_set_token(client_t *c, const char *token)
{
    client_poll_cancel(c);
    free(c->auth);
    gt_buf_t a = {0};
    gt_buf_printf(&a, "Authorization: Bearer %s", token ? token : "");
    c->auth = a.data;
    xfer_headers(c, &c->call);
    xfer_headers(c, &c->poll);
}

int client_call(client_t *c, const char *method, const char *path, json_t *body,
                long timeout_ms, long *status, json_t **out, gt_error_t *err)
{
    /* Every agent call may be sent twice (the protocol's answers are the same), so one whose
     * server failed or stood by goes to the next, each server of the list at most once. */
    CURLcode rc = CURLE_OK;
    for (size_t tries = 0; tries < c->urls.n; tries++) {
        xfer_prepare(c, &c->call, method, path, body, timeout_ms);
        rc = curl_easy_perform(c->call.easy);
        if (!fail_over(c, &c->call, rc))
            break;
    }
    return xfer_finish(c, &c->call, rc, status, out, err);
}

int client_poll_start(client_t *c, const char *path, long timeout_ms)
{
    if (c->polling)
        return -1;
    xfer_prepare(c, &c->poll, "GET", path, NULL, timeout_ms);
    curl_multi_add_handle(c->multi, c->poll.easy);
    c->polling = true;
    c->poll_done = false;
    return 0;
}

bool client_poll_running(const client_t *c)
{
    return c->polling;
}

bool client_poll_wait(client_t *c, int ms, const int *fds, size_t nfds)
{
    if (!c->polling)
        return false;
    if (c->poll_done)
        return true;
    int running = 0;
    curl_multi_perform(c->multi, &running);
    if (running) {
        struct curl_waitfd *w = nfds ? xcalloc(nfds, sizeof(*w)) : NULL;
        for (size_t i = 0; i < nfds; i++)
            w[i] = (struct curl_waitfd){.fd = fds[i], .events = CURL_WAIT_POLLIN};
        curl_multi_poll(c->multi, w, (unsigned)nfds, ms, NULL);
        free(w);
    }
    curl_multi_perform(c->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == c->poll.easy) {
            c->poll_rc = m->data.result;
            c->poll_done = true;
        }
    return c->poll_done;
}

void client_poll_cancel(client_t *c)
{
    if (!c->polling)
        return;
    curl_multi_remove_handle(c->multi, c->poll.easy);
    c->polling = false;
    c->poll_done = false;
}

int client_poll_result(client_t *c, long *status, json_t **out, gt_error_t *err)
{
    curl_multi_remove_handle(c->multi, c->poll.easy);
    c->polling = false;
    c->poll_done = false;
    int rc = xfer_finish(c, &c->poll, c->poll_rc, status, out, err);
    fail_over(c, &c->poll, c->poll_rc); /* the next poll goes to the next server */
    return rc;
}

int client_local_address(const char *base, char *buf, size_t len, gt_error_t *err)
{
    gt_urllist_t l;
    if (gt_urllist_parse(base, &l, err) < 0)
        return -1;
    int rc = local_address(l.urls[0], buf, len, err);
    gt_urllist_free(&l);
    return rc;
}

static int local_address(const char *base, char *buf, size_t len, gt_error_t *err)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        gt_error_set(err, "invalid_argument", "server URL '%s' is not valid", base);
        goto out;
    }
    if (host[0] == '[') { /* [v6] */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        gt_error_set(err, "unavailable", "cannot resolve %s: %s", host, gai_strerror(g));
        goto out;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, buf, (socklen_t)len, NULL, 0,
                    NI_NUMERICHOST) != 0)
        gt_error_set(err, "unavailable", "cannot find the local address towards %s: %s", host,
                     strerror(errno));
    else
        rc = 0;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}
