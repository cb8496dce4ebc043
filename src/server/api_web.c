/* api_web.c: the web dashboard (docs/dashboard.md). Its files are embedded into the binary
 * (web_assets.h): GET / is the page, GET /ui/NAME its scripts, styles and the charting library;
 * nothing comes from another origin (air-gapped clusters), and the page's security policy says
 * so to the browser. The files are public (they hold no data); the page asks for a token and
 * reads everything through /v1/ with it, so each person sees what that token may see. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* A GPU's stat (utilization, memory) as JSON: the number, or null when absent or negative.
 * A ratio in whole percent (NVML's utilization: 0.37) is written as its digits, any other real
 * as "%.4g" (the same text: docs/performance.md "Dashboard API" has what this saved, little). */
static void gpu_stat(gt_buf_t *b, const json_t *v)
{
    double r = json_is_real(v) ? json_real_value(v) : -1;
    int pct = r >= 0 && r < 1 ? (int)lround(r * 100) : -1;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        gt_buf_int(b, (long long)json_integer_value(v));
    } else if (pct >= 0 && pct < 100 && pct / 100.0 == r) {
        char d[4] = {'0', '.', (char)('0' + pct / 10), (char)('0' + pct % 10)};
        gt_buf_append(b, pct ? d : "0", pct % 10 ? 4 : pct ? 3 : 1);
    } else if (r >= 0) {
        gt_buf_printf(b, "%.4g", r);
    } else {
        gt_buf_append(b, "null", 4);
    }
}

/* A node's own fields in the GPU map, without the closing brace: name, state, gpu_type, gpus,
 * gpus_free, jobs and server_nodectl_view's administrative state (its maintenance windows left
 * out). Written as text for the usual node (no administrative state, and no maintenance
 * window defined at all); through server_nodectl_view's JSON otherwise, so both say the same.
 * Caller holds srv->mu. */
static void node_fields(server_t *srv, const node_t *n, const sched_node_info_t *ni,
                        gt_buf_t *b)
{
    const char *state = n->up ? (n->epoch ? "up" : "unknown") : "unreachable";
    if (!json_object_get(srv->node_admin, n->name) && !json_object_size(srv->maintenance)) {
        gt_buf_append(b, "{\"name\":", 8);
        gt_buf_json_string(b, n->name);
        gt_buf_printf(b, ",\"state\":\"%s\"", state);
        if (ni->gpu_type) {
            gt_buf_append(b, ",\"gpu_type\":", 12);
            gt_buf_json_string(b, ni->gpu_type);
        }
        gt_buf_printf(b, ",\"gpus\":%d,\"gpus_free\":%d,\"jobs\":%d,"
                      "\"schedulable\":true,\"drain_reason\":null", ni->gpus, ni->gpus_free,
                      ni->jobs);
        return;
    }
    json_t *o = json_pack("{s:s,s:s,s:s?,s:i,s:i,s:i}", "name", n->name, "state", state,
                          "gpu_type", ni->gpu_type, "gpus", ni->gpus, "gpus_free",
                          ni->gpus_free, "jobs", ni->jobs);
    server_nodectl_view(srv, n, ni->jobs, o);
    json_object_del(o, "maintenance");
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    gt_buf_append(b, text, strlen(text) - 1); /* without its closing brace */
    free(text);
}

/* GET /v1/gpus: the dashboard's GPU map in one pass under the lock (GET /v1/nodes and GET
 * /v1/jobs?state=running answer the same at 1,000 nodes in far more bytes and time). Written
 * as text straight into one buffer: at 1,000 nodes x 8 GPUs a tree of JSON values cost a
 * malloc per number and made this the dashboard's slowest call (bench/dashboard-api). */
int api_gpus(server_t *srv, http_req_t *req, http_resp_t *resp)
{
    if (strcmp(req->method, "GET"))
        return http_error(resp, 405, "method_not_allowed", "use GET on /v1/gpus");
    gt_buf_t b = {0};
    gt_buf_append(&b, "{\"jobs\":{", 9);
    pthread_mutex_lock(&srv->mu);
    /* holder[sched_idx * 64 + gpu]: the job holding it the caller may see, HIDDEN for another's */
    const uint64_t hidden = UINT64_MAX;
    size_t nsched = (size_t)sched_node_count(srv->sched);
    uint64_t *holder = xcalloc(nsched * 64 + 1, sizeof(*holder));
    bool first = true;
    for (size_t id = 1; id < srv->next_id; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_RUNNING)
            continue;
        bool visible = auth_can_see_team(&req->who, j->team);
        for (int r = 0; r < j->nslots; r++) {
            node_t *n = server_node(srv, j->slots[r].node);
            if (!n || n->sched_idx < 0 || (size_t)n->sched_idx >= nsched)
                continue;
            for (int g = 0; g < 64; g++)
                if (j->slots[r].gpu_mask >> g & 1)
                    holder[(size_t)n->sched_idx * 64 + (size_t)g] = visible ? j->id : hidden;
        }
        if (!visible)
            continue;
        if (!first)
            gt_buf_append(&b, ",", 1);
        gt_buf_append(&b, "\"", 1);
        gt_buf_int(&b, (long long)j->id);
        gt_buf_append(&b, "\":{\"team\":", 10);
        first = false;
        gt_buf_json_string(&b, j->team);
        gt_buf_append(&b, ",\"user\":", 8);
        gt_buf_json_string(&b, j->user);
        gt_buf_append(&b, ",\"name\":", 8);
        if (j->name)
            gt_buf_json_string(&b, j->name);
        else
            gt_buf_append(&b, "null", 4);
        if (j->array_id > 0 && (uint64_t)j->array_id != j->id)
            gt_buf_printf(&b, ",\"ref\":\"%lld_%lld\"", (long long)j->array_id,
                          (long long)j->array_index);
        gt_buf_append(&b, "}", 1);
    }
    gt_buf_append(&b, "},\"nodes\":[", 11);
    for (size_t i = 0; i < srv->nnodes; i++) {
        node_t *n = srv->nodes[i];
        sched_node_info_t ni = {0};
        sched_node_info(srv->sched, n->sched_idx, &ni);
        if (i)
            gt_buf_append(&b, ",", 1);
        node_fields(srv, n, &ni, &b);
        gt_buf_append(&b, ",\"gpu\":[", 8);
        const json_t *stat[64] = {0};
        size_t k;
        json_t *s;
        json_array_foreach(n->gpu_stats, k, s)
        {
            json_int_t g = json_integer_value(json_object_get(s, "index"));
            if (g >= 0 && g < 64)
                stat[g] = s;
        }
        for (int g = 0; g < ni.gpus && g < 64; g++) {
            uint64_t h = n->sched_idx >= 0 && (size_t)n->sched_idx < nsched
                             ? holder[(size_t)n->sched_idx * 64 + (size_t)g] : 0;
            if (g)
                gt_buf_append(&b, ",", 1);
            if (h == hidden) {
                gt_buf_append(&b, "[\"hidden\",", 10);
            } else if (h) {
                gt_buf_append(&b, "[", 1);
                gt_buf_int(&b, (long long)h);
                gt_buf_append(&b, ",", 1);
            } else {
                gt_buf_append(&b, "[null,", 6);
            }
            gpu_stat(&b, stat[g] ? json_object_get(stat[g], "utilization") : NULL);
            gt_buf_append(&b, ",", 1);
            gpu_stat(&b, stat[g] ? json_object_get(stat[g], "memory_used_mib") : NULL);
            gt_buf_append(&b, "]", 1);
        }
        gt_buf_append(&b, "]}", 2);
    }
    pthread_mutex_unlock(&srv->mu);
    free(holder);
    gt_buf_append(&b, "]}", 2);
    resp->text = b.data;
    resp->content_type = "application/json";
    return 0;
}
