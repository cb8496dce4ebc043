/* transport.c: TLS verification and the plaintext guard of the CLI's and the agent's libcurl
 * handles (see transport.h). */
#include "common/transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FIX_HINT                                                                               \
    "use https:// (the server's --tls-cert and --tls-key; trust its CA with --ca-file or "     \
    "GANTRY_CA_FILE), or allow plaintext explicitly with --allow-plaintext or "                \
    "GANTRY_ALLOW_PLAINTEXT=1"

void gt_transport_from_env(gt_transport_t *t)
{
    const char *ca = getenv("GANTRY_CA_FILE");
    if (!t->ca_file && ca && *ca)
        t->ca_file = ca;
    const char *p = getenv("GANTRY_ALLOW_PLAINTEXT");
    if (p && (!strcmp(p, "1") || !strcasecmp(p, "true") || !strcasecmp(p, "yes")))
        t->allow_plaintext = true;
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

static void sockaddr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

bool gt_transport_is_loopback(const char *addr)
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);
    if (n >= sizeof(buf))
        return false;
    if (addr[0] == '[' && n > 2 && addr[n - 1] == ']') {
        memcpy(buf, addr + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        memcpy(buf, addr, n + 1);
    }
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, buf, &in.sin_addr) == 1)
        return sockaddr_is_loopback((struct sockaddr *)&in);
    if (inet_pton(AF_INET6, buf, &in6.sin6_addr) == 1)
        return sockaddr_is_loopback((struct sockaddr *)&in6);
    return false;
}

/* The scheme: 1 https, 0 http, -1 anything else. */
static int url_scheme(const char *url)
{
    if (!strncasecmp(url, "https://", 8))
        return 1;
    if (!strncasecmp(url, "http://", 7))
        return 0;
    return -1;
}

static int refuse(gt_error_t *err, const char *url, const char *addr)
{
    errno = EPERM;
    return gt_error_set(err, "plaintext_refused",
                        "refusing plain http:// to %s (%s): the token would cross the network "
                        "in clear; %s", url, addr, FIX_HINT);
}

int gt_transport_check(const char *url, const gt_transport_t *t, gt_error_t *err)
{
    int https = url_scheme(url);
    if (https < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "server URL '%s' must start with https:// "
                            "(or http:// on loopback)", url);
    }
    if (https) {
        if (t->ca_file && access(t->ca_file, R_OK) < 0)
            return gt_error_set(err, "invalid_argument", "cannot read the CA file %s (--ca-file "
                                "or GANTRY_CA_FILE): %s", t->ca_file, strerror(errno));
        return 0;
    }
    if (t->allow_plaintext)
        return 0;
    CURLU *u = curl_url();
    char *host = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "server URL '%s' is not valid", url);
        goto out;
    }
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, NULL, &hints, &ai);
    if (g != 0) {
        errno = ENOENT;
        gt_error_set(err, "unavailable", "cannot resolve %s: %s", host, gai_strerror(g));
        goto out;
    }
    rc = 0;
    for (struct addrinfo *p = ai; p && rc == 0; p = p->ai_next)
        if (!sockaddr_is_loopback(p->ai_addr)) {
            char a[INET6_ADDRSTRLEN];
            sockaddr_text(p->ai_addr, a, sizeof(a));
            char what[300];
            snprintf(what, sizeof(what), "%s, not a loopback address", a);
            rc = refuse(err, url, what);
        }
    freeaddrinfo(ai);
out:
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* Every socket curl opens passes here: plaintext goes to loopback only. */
static curl_socket_t open_guarded(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    gt_transport_guard_t *g = clientp;
    if (g->plaintext && !sockaddr_is_loopback(&a->addr)) {
        g->refused = true;
        sockaddr_text(&a->addr, g->addr, sizeof(g->addr));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int gt_transport_apply(void *h, const char *url, const gt_transport_t *t,
                       gt_transport_guard_t *g, gt_error_t *err)
{
    CURL *e = h;
    memset(g, 0, sizeof(*g));
    int https = url_scheme(url);
    if (https < 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "server URL '%s' must start with https:// "
                            "(or http:// on loopback)", url);
    }
    g->plaintext = !https && !t->allow_plaintext;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, g);
    return 0;
}

bool gt_transport_refused(const gt_transport_guard_t *g, const char *url, gt_error_t *err)
{
    if (!g->refused)
        return false;
    char what[300];
    snprintf(what, sizeof(what), "connecting to %s, not a loopback address", g->addr);
    refuse(err, url, what);
    return true;
}
