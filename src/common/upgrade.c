/* upgrade.c: an upgraded HTTP connection's client side over libcurl (upgrade.h). */
#include "common/upgrade.h"
#include "common/urllist.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gt_upgrade {
    CURL *h;
    curl_socket_t fd;
    gt_transport_guard_t guard;
    char *early;              /* bytes read after the answer's header */
    size_t early_len, early_off;
};

static bool wait_fd(curl_socket_t fd, short ev, double deadline)
{
    double left = deadline - gt_monotonic_s();
    if (left <= 0)
        return false;
    struct pollfd p = {.fd = fd, .events = ev};
    return poll(&p, 1, (int)(left * 1000) + 1) > 0;
}

static int send_all(gt_upgrade_t *u, const char *buf, size_t len, double deadline)
{
    while (len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(u->h, buf, len, &n);
        if (rc == CURLE_AGAIN) {
            if (deadline > 0 && gt_monotonic_s() > deadline) {
                errno = ETIMEDOUT;
                return -1;
            }
            wait_fd(u->fd, POLLOUT, deadline > 0 ? deadline : gt_monotonic_s() + 3600);
            continue;
        }
        if (rc != CURLE_OK) {
            errno = EPIPE;
            return -1;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

static int open_one(const char *base, const char *path, const char *token,
                    const gt_transport_t *tp, const char *proto, const char *body,
                    long timeout_ms, gt_upgrade_t **out, long *status, json_t **answer,
                    gt_error_t *err)
{
    *out = NULL;
    *status = 0;
    *answer = NULL;
    double deadline = gt_monotonic_s() + timeout_ms / 1000.0;
    gt_upgrade_t *u = xcalloc(1, sizeof(*u));
    gt_buf_t req = {0}, head = {0};
    char *url = gt_strfmt("%s%s", base, path), *host = NULL, *port = NULL;
    int rc = -1;
    if (!(u->h = curl_easy_init())) {
        gt_error_set(err, "internal", "cannot start libcurl");
        goto out;
    }
    if (gt_transport_apply(u->h, url, tp, &u->guard, err) < 0)
        goto out;
    curl_easy_setopt(u->h, CURLOPT_URL, url);
    curl_easy_setopt(u->h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(u->h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(u->h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(u->h);
    if (cc != CURLE_OK) {
        if (!gt_transport_refused(&u->guard, base, err))
            gt_error_set(err, "unavailable", "cannot reach %s: %s", base, curl_easy_strerror(cc));
        goto out;
    }
    if (curl_easy_getinfo(u->h, CURLINFO_ACTIVESOCKET, &u->fd) != CURLE_OK ||
        u->fd == CURL_SOCKET_BAD) {
        gt_error_set(err, "internal", "libcurl gave no socket for %s", base);
        goto out;
    }
    CURLU *cu = curl_url();
    curl_url_set(cu, CURLUPART_URL, url, 0);
    curl_url_get(cu, CURLUPART_HOST, &host, 0);
    curl_url_get(cu, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    curl_url_cleanup(cu);
    size_t blen = body ? strlen(body) : 0;
    gt_buf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: Upgrade\r\n"
                        "Upgrade: %s\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  path, host ? host : "localhost", port ? port : "80", proto, token ? token : "",
                  blen);
    if (blen)
        gt_buf_append(&req, body, blen);
    if (send_all(u, req.data, req.len, deadline) < 0) {
        gt_error_set(err, "unavailable", "cannot send the request to %s: %s", base,
                     strerror(errno));
        goto out;
    }
    /* The answer's header, then (101) the stream, or (else) a body of Content-Length. */
    size_t hlen = 0;
    char buf[16384];
    for (;;) {
        size_t n = 0;
        cc = curl_easy_recv(u->h, buf, sizeof(buf), &n);
        if (cc == CURLE_AGAIN) {
            if (!wait_fd(u->fd, POLLIN, deadline)) {
                gt_error_set(err, "timeout", "%s did not answer within %ld ms", base, timeout_ms);
                goto out;
            }
            continue;
        }
        if (cc != CURLE_OK || n == 0) {
            gt_error_set(err, "unavailable", "%s closed the connection before answering", base);
            goto out;
        }
        gt_buf_append(&head, buf, n);
        char *end = memmem(head.data, head.len, "\r\n\r\n", 4);
        if (end) {
            hlen = (size_t)(end - head.data) + 4;
            break;
        }
        if (head.len > 65536) {
            gt_error_set(err, "unavailable", "%s answered with an oversized header", base);
            goto out;
        }
    }
    int code = 0;
    if (sscanf(head.data, "HTTP/1.%*d %d", &code) != 1) {
        gt_error_set(err, "unavailable", "%s did not answer in HTTP", base);
        goto out;
    }
    *status = code;
    if (code == 101) {
        u->early_len = head.len - hlen;
        u->early = xmalloc(u->early_len + 1);
        memcpy(u->early, head.data + hlen, u->early_len);
        *out = u;
        u = NULL;
        rc = 0;
        goto out;
    }
    /* An error answer: its body, as long as it says (or until the server closes). */
    size_t want = (size_t)-1;
    for (char *p = head.data; p < head.data + hlen; p = strstr(p, "\r\n") + 2) {
        if (!strncasecmp(p, "Content-Length:", 15))
            want = strtoul(p + 15, NULL, 10);
        if (!strstr(p, "\r\n"))
            break;
    }
    gt_buf_t bodyb = {0};
    gt_buf_append(&bodyb, head.data + hlen, head.len - hlen);
    while (bodyb.len < want && bodyb.len < 1 << 20) {
        size_t n = 0;
        cc = curl_easy_recv(u->h, buf, sizeof(buf), &n);
        if (cc == CURLE_AGAIN) {
            if (!wait_fd(u->fd, POLLIN, deadline))
                break;
            continue;
        }
        if (cc != CURLE_OK || n == 0)
            break;
        gt_buf_append(&bodyb, buf, n);
    }
    if (bodyb.len)
        *answer = json_loadb(bodyb.data, bodyb.len, 0, NULL);
    gt_buf_free(&bodyb);
    rc = 1;
out:
    gt_buf_free(&req);
    gt_buf_free(&head);
    curl_free(host);
    curl_free(port);
    free(url);
    gt_upgrade_close(u);
    return rc;
}

int gt_upgrade_open(const char *base, const char *path, const char *token,
                    const gt_transport_t *tp, const char *proto, const char *body,
                    long timeout_ms, gt_upgrade_t **out, long *status, json_t **answer,
                    gt_error_t *err)
{
    /* Several servers (docs/ha.md): the first that is the leader; a standby or one that
     * cannot be reached passes to the next. */
    gt_urllist_t l;
    if (gt_urllist_parse(base, &l, err) < 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < l.n; i++) {
        json_decref(*answer);
        *answer = NULL;
        rc = open_one(l.urls[i], path, token, tp, proto, body, timeout_ms, out, status, answer,
                      err);
        const char *code = json_string_value(
            json_object_get(json_object_get(*answer, "error"), "code"));
        if (rc == 0 || (rc > 0 && !gt_urllist_not_leader(*status, code)))
            break;
    }
    gt_urllist_free(&l);
    return rc;
}

int gt_upgrade_fd(const gt_upgrade_t *u) { return (int)u->fd; }

bool gt_upgrade_pending(const gt_upgrade_t *u) { return u->early_off < u->early_len; }

int gt_upgrade_send(gt_upgrade_t *u, const void *buf, size_t len)
{
    return send_all(u, buf, len, 0);
}

ssize_t gt_upgrade_recv(gt_upgrade_t *u, void *buf, size_t len)
{
    if (u->early_off < u->early_len) {
        size_t n = u->early_len - u->early_off;
        if (n > len)
            n = len;
        memcpy(buf, u->early + u->early_off, n);
        u->early_off += n;
        return (ssize_t)n;
    }
    size_t n = 0;
    CURLcode cc = curl_easy_recv(u->h, buf, len, &n);
    if (cc == CURLE_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    if (cc != CURLE_OK) {
        errno = ECONNRESET;
        return -1;
    }
    return (ssize_t)n;
}

void gt_upgrade_close(gt_upgrade_t *u)
{
    if (!u)
        return;
    if (u->h)
        curl_easy_cleanup(u->h);
    free(u->early);
    free(u);
}
