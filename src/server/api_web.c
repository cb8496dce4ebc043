/* api_web.c: the web dashboard (docs/dashboard.md). Its files are embedded into the binary
 * (web_assets.h): GET / is the page, GET /ui/NAME its scripts, styles and the charting library;
 * nothing comes from another origin (air-gapped clusters), and the page's security policy says
 * so to the browser. The files are public (they hold no data); the page asks for a token and
 * reads everything through /v1/ with it, so each person sees what that token may see. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "server/web_assets.h"

static const web_asset_t *find(const char *path)
{
    for (size_t i = 0; i < web_nassets; i++)
        if (!strcmp(web_assets[i].path, path))
            return &web_assets[i];
    return NULL;
}

/* Whether the client's Accept-Encoding lists gzip, not with q=0. */
static bool accepts_gzip(const http_req_t *req)
{
    const char *ae = req->conn ? http_header(req, "Accept-Encoding") : NULL;
    const char *p = ae ? strstr(ae, "gzip") : NULL;
    if (!p)
        return false;
    p += 4;
    p += strspn(p, " ");
    if (*p != ';')
        return true;
    p++;
    p += strspn(p, " ");
    return strncmp(p, "q=", 2) || strtod(p + 2, NULL) > 0;
}

bool api_web(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    (void)srv;
    const char *p = req->path;
    if (strcmp(p, "/") && strncmp(p, "/ui/", 4))
        return false;
    if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
        http_error(resp, 405, "method_not_allowed", "use GET on %s", p);
        return true;
    }
    const web_asset_t *a = find(p);
    if (!a) {
        http_error(resp, 404, "not_found", "no such file of the dashboard: %s", p);
        return true;
    }
    resp->etag = a->etag;
    /* Revalidated on each load (a new gantry serves new files), answered 304 when unchanged. */
    resp->cache_control = "no-cache";
    resp->vary = "Accept-Encoding";
    resp->page_headers = true;
    resp->content_type = a->content_type;
    const char *inm = req->conn ? http_header(req, "If-None-Match") : NULL;
    if (inm && !strcmp(inm, a->etag)) {
        resp->status = 304;
        resp->data = "";
        resp->data_len = 0;
        return true;
    }
    if (accepts_gzip(req) && a->gz_len < a->len) {
        resp->data = a->gz;
        resp->data_len = a->gz_len;
        resp->content_encoding = "gzip";
    } else {
        resp->data = a->data;
        resp->data_len = a->len;
    }
    return true;
}

int api_whoami(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    (void)srv;
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/whoami");
    resp->json = json_pack("{s:s,s:s,s:s?}", "user", req->who.user, "role",
                           auth_role_name(req->who.role),
                           "team", req->who.team[0] ? req->who.team : NULL);
    return 0;
}
