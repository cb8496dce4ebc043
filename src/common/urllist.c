#include "common/urllist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void gt_urllist_free(gt_urllist_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->urls[i]);
    free(l->urls);
    l->urls = NULL;
    l->n = 0;
}

int gt_urllist_parse(const char *s, gt_urllist_t *out, gt_error_t *err)
{
    *out = (gt_urllist_t){0};
    if (!s || !*s) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "no server URL given");
    }
    size_t cap = 0;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '/'))
            len--;
        if (!len) {
            gt_urllist_free(out);
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "server list '%s' has an empty URL "
                                "(write url1,url2,...)", s);
        }
        bool scheme = memmem(p, len, "://", 3) != NULL;
        char *u = xmalloc(len + 8);
        memcpy(u, scheme ? "" : "http://", scheme ? 0 : 7);
        memcpy(u + (scheme ? 0 : 7), p, len);
        u[len + (scheme ? 0 : 7)] = '\0';
        GT_GROW(out->urls, cap, out->n + 1);
        out->urls[out->n++] = u;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

bool gt_urllist_not_leader(long status, const char *code)
{
    return status == 307 || (status == 503 && code && !strcmp(code, "not_leader"));
}

int gt_urllist_find(const gt_urllist_t *l, const char *location)
{
    if (!location)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->urls[i]);
        if (!strncmp(location, l->urls[i], n) && (location[n] == '\0' || location[n] == '/'))
            return (int)i;
    }
    return -1;
}
