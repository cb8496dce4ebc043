/* cli_lineage.c: `gantry artifact lineage REF`, `gantry artifact push --in-place VOLUME:PATH
 * NAME` and `gantry artifact verify REF` for in-place versions (docs/artifacts.md "Jobs" and
 * "Lineage"). The in-place ones are hashed on a node: the server answers with a request, and
 * the command polls it until the node has answered. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_lineage.h"
#include "common/util.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls GET /v1/artifact-requests/ID until its state is no longer "hashing", or wait_s pass.
 * Returns the request (new reference), or NULL after printing why. */
static json_t *await_request(const cli_t *c, const char *cmd, json_t *req, double wait_s)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/artifact-requests/%s",
             json_string_value(json_object_get(req, "id")));
    double deadline = gt_monotonic_s() + wait_s;
    long pause = 50;
    for (;;) {
        json_t *r = NULL;
        gt_error_t err = {0};
        int st = cli_request(c, "GET", path, NULL, NULL, &r, &err);
        if (st < 0 && gt_monotonic_s() <= deadline) {
            /* the server restarting: the request is kept (the store has it); ask again */
            sleep_ms(1000);
            continue;
        }
        if (st != 200) {
            cli_fail_request(cmd, st, r, &err);
            return NULL;
        }
        if (strcmp(json_string_value(json_object_get(r, "state")), "hashing"))
            return r;
        json_decref(r);
        if (gt_monotonic_s() > deadline) {
            fprintf(stderr,
                    "gantry %s: node %s is still hashing after %.0f s (request %s): see `gantry "
                    "artifact request %s` later, or wait longer with --wait\n",
                    cmd, json_string_value(json_object_get(req, "node")), wait_s,
                    json_string_value(json_object_get(req, "id")),
                    json_string_value(json_object_get(req, "id")));
            return NULL;
        }
        sleep_ms(pause);
        pause = pause < 1000 ? pause * 2 : 1000;
    }
}

static int failed_request(const char *cmd, json_t *r)
{
    fprintf(stderr, "gantry %s: %s\n", cmd, json_string_value(json_object_get(r, "error")));
    json_decref(r);
    return 1;
}

int cli_artifact_push_in_place(const cli_t *c, int argc, char **argv)
{
    const char *cmd = "artifact push";
    const char *where = NULL, *name = NULL, *kind = NULL, *team = NULL;
    double wait_s = 3600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: gantry artifact push --in-place VOLUME:PATH NAME [--kind dataset|model|"
                   "other]\n                            [--team TEAM] [--wait SECONDS]\n\n"
                   "Registers a new version of NAME in place: the files under PATH on volume\n"
                   "VOLUME are not copied; a node hashes them (a manifest of every file's size\n"
                   "and SHA-256) and the version's digest is the manifest's. `gantry artifact\n"
                   "verify NAME@N` later finds what changed under it.\n");
            return 0;
        }
        if (!strcmp(a, "--in-place") && i + 1 < argc)
            where = argv[++i];
        else if (!strcmp(a, "--kind") && i + 1 < argc)
            kind = argv[++i];
        else if (!strcmp(a, "--team") && i + 1 < argc)
            team = argv[++i];
        else if (!strcmp(a, "--wait") && i + 1 < argc)
            wait_s = atof(argv[++i]);
        else if (a[0] != '-' && !name)
            name = a;
        else {
            fprintf(stderr, "gantry %s: unexpected argument %s (see --help)\n", cmd, a);
            return 2;
        }
    }
    const char *colon = where ? strchr(where, ':') : NULL;
    if (!colon || colon == where || !name) {
        fprintf(stderr, "gantry %s: usage: gantry artifact push --in-place VOLUME:PATH NAME\n",
                cmd);
        return 2;
    }
    json_t *body = json_pack("{s:s#,s:s}", "volume", where, (int)(colon - where), "path",
                             colon + 1);
    if (kind)
        json_object_set_new(body, "kind", json_string(kind));
    if (team)
        json_object_set_new(body, "team", json_string(team));
    char *esc = cli_escape(name);
    char path[512];
    snprintf(path, sizeof(path), "/v1/artifacts/%s/in-place", esc);
    free(esc);
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "POST", path, body, NULL, &resp, &err);
    json_decref(body);
    if (st != 202)
        return cli_fail_request(cmd, st, resp, &err);
    json_t *r = await_request(c, cmd, resp, wait_s);
    json_decref(resp);
    if (!r)
        return 1;
    if (strcmp(json_string_value(json_object_get(r, "state")), "done"))
        return failed_request(cmd, r);
    if (c->output == CLI_JSON)
        cli_print_json(r);
    else if (c->output == CLI_YAML)
        cli_print_yaml(r);
    else
        printf("%s@%lld %s (%lld files, %lld bytes, in place on %s:%s)\n", name,
               (long long)json_integer_value(json_object_get(r, "version")),
               json_string_value(json_object_get(r, "digest")),
               (long long)json_integer_value(json_object_get(r, "files")),
               (long long)json_integer_value(json_object_get(r, "size")),
               json_string_value(json_object_get(r, "volume")),
               json_string_value(json_object_get(r, "path")));
    json_decref(r);
    return 0;
}

int cli_artifact_verify_in_place(const cli_t *c, json_t *req, int argc, char **argv)
{
    const char *cmd = "artifact verify";
    double wait_s = 3600;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--wait") && i + 1 < argc)
            wait_s = atof(argv[++i]);
    json_t *r = await_request(c, cmd, req, wait_s);
    if (!r)
        return 1;
    if (strcmp(json_string_value(json_object_get(r, "state")), "done"))
        return failed_request(cmd, r);
    bool ok = json_is_true(json_object_get(r, "ok"));
    if (c->output == CLI_JSON)
        cli_print_json(r);
    else if (c->output == CLI_YAML)
        cli_print_yaml(r);
    else if (ok)
        printf("%s@%lld: OK, its files match %s\n", json_string_value(json_object_get(r, "name")),
               (long long)json_integer_value(json_object_get(r, "version")),
               json_string_value(json_object_get(r, "digest")));
    else {
        printf("%s@%lld: CHANGED: registered %s, found %s\n",
               json_string_value(json_object_get(r, "name")),
               (long long)json_integer_value(json_object_get(r, "version")),
               json_string_value(json_object_get(r, "digest")),
               json_string_value(json_object_get(r, "found_digest")));
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(r, "changes"), i, l)
            printf("  %s\n", json_string_value(l));
    }
    json_decref(r);
    return ok ? 0 : 1;
}

/* One node of the tree, then its children under prefix. */
static void print_node(const json_t *n, const char *prefix, bool last, bool root,
                       const char *children_key)
{
    gt_buf_t line = {0};
    if (!root)
        gt_buf_printf(&line, "%s%s", prefix, last ? "└── " : "├── ");
    if (json_object_get(n, "artifact")) {
        gt_buf_printf(&line, "%s@%lld", json_string_value(json_object_get(n, "artifact")),
                      (long long)json_integer_value(json_object_get(n, "version")));
        if (json_is_true(json_object_get(n, "hidden")))
            gt_buf_printf(&line, " (not visible to you)");
        else {
            const char *d = json_string_value(json_object_get(n, "digest"));
            gt_buf_printf(&line, " %s %.19s", json_string_value(json_object_get(n, "kind")),
                          d ? d : "");
            json_t *job = json_object_get(n, "job");
            if (job)
                gt_buf_printf(&line, " made by job %lld (%s, team %s)",
                              (long long)json_integer_value(json_object_get(job, "id")),
                              json_string_value(json_object_get(job, "user")),
                              json_string_value(json_object_get(job, "team")));
        }
    } else {
        gt_buf_printf(&line, "job %lld (%s, team %s) %s",
                      (long long)json_integer_value(json_object_get(n, "job")),
                      json_string_value(json_object_get(n, "user")),
                      json_string_value(json_object_get(n, "team")),
                      json_string_value(json_object_get(n, "state")));
    }
    printf("%s\n", line.data);
    gt_buf_free(&line);
    json_t *kids = json_object_get(n, children_key);
    gt_buf_t pre = {0};
    gt_buf_printf(&pre, "%s%s", prefix, root ? "" : last ? "    " : "│   ");
    size_t i, nk = json_array_size(kids);
    json_t *k;
    json_array_foreach(kids, i, k) print_node(k, pre.data, i + 1 == nk, false, children_key);
    gt_buf_free(&pre);
}

int cli_artifact_lineage(const cli_t *c, int argc, char **argv)
{
    const char *cmd = "artifact lineage";
    const char *ref = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: gantry artifact lineage REF [-o json|yaml]\n\n"
                   "Where version REF (NAME@N, NAME:ALIAS or NAME) came from and what was made\n"
                   "from it: upstream, the inputs of the job that made it, recursively;\n"
                   "downstream, the versions jobs made from it, recursively, and the jobs that\n"
                   "read it without making one.\n");
            return 0;
        }
        if (argv[i][0] != '-' && !ref)
            ref = argv[i];
        else {
            fprintf(stderr, "gantry %s: unexpected argument %s (see --help)\n", cmd, argv[i]);
            return 2;
        }
    }
    if (!ref) {
        fprintf(stderr, "gantry %s: usage: gantry artifact lineage REF\n", cmd);
        return 2;
    }
    char *esc = cli_escape(ref);
    char path[512];
    snprintf(path, sizeof(path), "/v1/artifacts/%s/lineage", esc);
    free(esc);
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request(cmd, st, resp, &err);
    if (c->output == CLI_JSON)
        cli_print_json(resp);
    else if (c->output == CLI_YAML)
        cli_print_yaml(resp);
    else {
        printf("upstream (what it was made from):\n");
        print_node(resp, "", true, true, "upstream");
        printf("\ndownstream (what was made from it):\n");
        print_node(resp, "", true, true, "downstream");
    }
    json_decref(resp);
    return 0;
}
