/* artifacts.h: the registry's rules on a server state built by hand (no HTTP): names and
 * references, versions and their digests, who may write, the blobs a team may name, quotas,
 * removal that hides what recorded lineage uses, and reloading from the store. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/manifest.h"
#include "server/artifacts.h"
#include "server/blobs.h"
#include "tap.h"

static server_t *open_srv(const char *dir)
{
    server_t *srv = xcalloc(1, sizeof(*srv));
    pthread_mutex_init(&srv->mu, NULL);
    srv->data_dir = xstrdup(dir);
    srv->next_id = 1;
    gt_error_t err = {0};
    if (store_open(dir, &srv->store, &err) < 0 || artifacts_load(srv, &err) < 0) {
        diag("open: %s", err.msg);
        exit(1);
    }
    return srv;
}

static void close_srv(server_t *srv)
{
    artifacts_free(srv);
    store_close(srv->store);
    json_decref(srv->storage_quotas);
    free(srv->data_dir);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* Puts bytes into the blob store as team's upload would. */
static void put_blob(server_t *srv, const char *team, const char *data, char hex[65])
{
    gt_sha256_hex(data, strlen(data), hex);
    blob_upload_t u;
    bool resumed;
    gt_error_t err = {0};
    blobs_upload_start(srv->blobs, team, "u", hex, strlen(data), &u, &resumed, &err);
    blob_writer_t *w = NULL;
    blobs_write_begin(srv->blobs, u.id, 0, &w, &err);
    blobs_write(w, data, strlen(data), &err);
    blobs_write_end(w, NULL);
    if (blobs_upload_commit(srv->blobs, u.id, &err) < 0)
        diag("commit: %s", err.msg);
    artifacts_blob_uploaded(srv, team, hex);
}

static json_t *one_file(const char *path, const char *data)
{
    char hex[65];
    gt_sha256_hex(data, strlen(data), hex);
    return json_pack("[{s:s, s:i, s:s}]", "path", path, "size", (int)strlen(data), "sha256",
                     hex);
}

int main(void)
{
    char dir[] = "/tmp/gantry-test-artifacts.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    gt_error_t err = {0};
    is_int(store_create(dir, NULL, 0, &err), 0, "store created");
    server_t *srv = open_srv(dir);

    ok(artifacts_name_ok("imagenet-1k.v2_x"), "a name of letters, digits, . _ -");
    ok(!artifacts_name_ok("-x") && !artifacts_name_ok("a/b") && !artifacts_name_ok("") &&
       !artifacts_name_ok("a@1"), "names refused: leading '-', '/', empty, '@'");
    ok(artifacts_alias_ok("production"), "production is an alias");
    ok(!artifacts_alias_ok("42") && !artifacts_alias_ok("latest"),
       "aliases refused: all digits (a version), 'latest'");

    /* a blob-store version: the blob must be the team's */
    char hex[65];
    put_blob(srv, "research", "abc", hex);
    json_t *man = one_file("a.txt", "abc");
    artifact_new_t nv = {.name = "ds", .kind = "dataset", .team = "research", .user = "alice",
                         .manifest = man};
    artifact_ver_t *v = NULL;
    uint64_t ticket = 0;
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &nv, &v, &ticket, &err), 0, "version 1 added");
    pthread_mutex_unlock(&srv->mu);
    is_int(v->version, 1, "numbered 1");
    manifest_t *m = NULL;
    manifest_from_json(man, 0, &m, &err);
    char d[GT_DIGEST_LEN];
    manifest_digest(m, d);
    manifest_free(m);
    is_str(v->digest, d, "its digest is the manifest's");
    ok(v->volume == NULL, "it lives in the blob store");
    artifacts_ver_free(v);
    is_int(store_wait(srv->store, ticket, &err), 0, "its write commits");

    /* the digest given must be the manifest's */
    nv.digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    errno = 0;
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &nv, NULL, &ticket, &err), -1, "a wrong digest refused");
    pthread_mutex_unlock(&srv->mu);
    is_int(errno, EINVAL, "EINVAL");
    nv.digest = NULL;

    /* another team: may not write; may not name research's private blob */
    nv.team = "product";
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &nv, NULL, &ticket, &err), -1, "product may not add to ds");
    is_str(err.code, "forbidden", "forbidden");
    nv.name = "mine";
    is_int(artifacts_add_version(srv, &nv, NULL, &ticket, &err), -1,
           "product may not name research's blob by its digest alone");
    is_str(err.code, "missing_blobs", "missing_blobs (%s)", err.msg);
    ok(!artifacts_blob_available(srv, "product", hex, 3), "the blob is not available to product");
    ok(artifacts_blob_available(srv, "research", hex, 3), "it is to research");
    artifact_ver_t *r = NULL;
    is_int(artifacts_resolve(srv, "ds", "product", &r, &err), -1, "product does not resolve ds");
    is_str(err.code, "not_found", "as if it did not exist");
    pthread_mutex_unlock(&srv->mu);

    /* an in-place version needs no blob; it is version 2 */
    json_t *man2 = one_file("b.bin", "in place bytes");
    artifact_new_t ip = {.name = "ds", .team = "research", .user = "alice", .manifest = man2,
                         .volume = "datasets", .path = "imagenet"};
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &ip, &v, &ticket, &err), 0, "an in-place version 2");
    is_str(v->volume, "datasets", "on its volume");
    is_str(v->kind, "dataset", "the artifact's kind kept");
    artifacts_ver_free(v);
    is_int(artifacts_resolve(srv, "ds", "research", &r, &err), 0, "ds resolves");
    is_int(r->version, 2, "to its latest, 2");
    artifacts_ver_free(r);
    is_int(artifacts_resolve(srv, "ds@1", NULL, &r, &err), 0, "ds@1 resolves for an admin");
    artifacts_ver_free(r);
    is_int(artifacts_resolve(srv, "ds@x", NULL, &r, &err), -1, "ds@x is malformed");
    is_int(errno, EINVAL, "EINVAL");
    is_int(artifacts_resolve(srv, "ds:prod", NULL, &r, &err), -1, "no alias prod yet");
    is_int(artifacts_alias_set(srv, "ds", "prod", 1, "research", &ticket, &err), 0, "prod -> 1");
    is_int(artifacts_resolve(srv, "ds:prod", NULL, &r, &err), 0, "ds:prod resolves");
    is_int(r->version, 1, "to 1");
    artifacts_ver_free(r);
    is_int(artifacts_alias_set(srv, "ds", "prod", 2, "product", &ticket, &err), -1,
           "product may not move it");
    pthread_mutex_unlock(&srv->mu);

    /* in place, by its digest alone (a tree too large to send its manifest) */
    artifact_new_t dg = {.name = "huge", .team = "research", .user = "alice",
                         .volume = "datasets", .path = "huge", .size = 10000000000ULL,
                         .files = 100000,
                         .digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"};
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &dg, &v, &ticket, &err), 0, "in place by digest alone: %s",
           err.msg);
    is_str(v->digest, dg.digest, "its digest as the node gave it");
    is_int(v->files, 100000, "its file count");
    ok(v->manifest == NULL, "no manifest kept");
    artifacts_ver_free(v);
    dg.volume = NULL;
    dg.path = NULL;
    dg.name = "huge2";
    is_int(artifacts_add_version(srv, &dg, NULL, &ticket, &err), -1,
           "a blob-store version must give its manifest");
    pthread_mutex_unlock(&srv->mu);

    /* a version made from ds@1 by a job: ds@1 is an input of recorded lineage */
    json_t *lin = json_pack("{s:I, s:[{s:s, s:i}]}", "job", (json_int_t)7, "inputs", "artifact",
                            "ds", "version", 1);
    json_t *man3 = one_file("w.pt", "weights");
    artifact_new_t out = {.name = "model", .kind = "model", .team = "research", .user = "alice",
                          .manifest = man3, .volume = "outputs", .path = "research/7",
                          .lineage = lin};
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_add_version(srv, &out, NULL, &ticket, &err), 0, "model@1 with lineage");
    char why[160] = "";
    ok(artifacts_version_in_use(srv, "ds", 1, why, sizeof(why)), "ds@1 is in use: %s", why);
    ok(!artifacts_version_in_use(srv, "ds", 2, NULL, 0), "ds@2 is not");
    bool hidden = false;
    is_int(artifacts_version_rm(srv, "ds", 1, "product", &hidden, why, sizeof(why), &err), -1,
           "product may not remove ds@1");
    is_int(artifacts_version_rm(srv, "ds", 1, "research", &hidden, why, sizeof(why), &err), 0,
           "research removes ds@1");
    ok(hidden, "it is hidden, not deleted (%s)", why);
    is_int(artifacts_resolve(srv, "ds@1", "research", &r, &err), -1, "a hidden version does not "
           "resolve");
    is_int(artifacts_resolve(srv, "ds:prod", "research", &r, &err), -1, "its alias went with it");
    ok(blobs_has(srv->blobs, hex, NULL), "its blob stays (lineage may need the bytes)");
    is_int(artifacts_version_rm(srv, "ds", 2, "research", &hidden, why, sizeof(why), &err), 0,
           "ds@2 removed");
    ok(!hidden, "deleted: nothing uses it");
    pthread_mutex_unlock(&srv->mu);

    /* quotas: research may hold 10 bytes in the blob store */
    srv->storage_quotas = json_pack("{s:i}", "research", 10);
    char hex2[65];
    put_blob(srv, "research", "0123456789abcdef", hex2);
    json_t *man4 = one_file("big", "0123456789abcdef");
    artifact_new_t big = {.name = "big", .team = "research", .user = "alice", .manifest = man4};
    pthread_mutex_lock(&srv->mu);
    errno = 0;
    is_int(artifacts_add_version(srv, &big, NULL, &ticket, &err), -1, "over the quota: refused");
    is_int(errno, EDQUOT, "EDQUOT");
    is_str(err.code, "quota_exceeded", "quota_exceeded (%s)", err.msg);
    is_int(artifacts_team_quota(srv, "research"), 10, "research's quota");
    is_int(artifacts_team_quota(srv, "product"), -1, "product has none");
    is_int(artifacts_team_usage(srv, "research"), 3, "research holds its 3 bytes (the hidden "
           "version's)");
    pthread_mutex_unlock(&srv->mu);
    is_int(store_wait(srv->store, store_last_kept(srv->store), &err), 0, "all written");

    /* reloaded from the store: the same registry */
    close_srv(srv);
    srv = open_srv(dir);
    pthread_mutex_lock(&srv->mu);
    is_int(artifacts_resolve(srv, "ds@1", NULL, &r, &err), -1, "ds@1 is still hidden");
    json_t *view = artifacts_view(srv, "ds", NULL, true);
    is_int(json_array_size(json_object_get(view, "versions")), 1, "ds keeps one version (1)");
    json_decref(view);
    is_int(artifacts_resolve(srv, "huge", "research", &r, &err), 0, "huge resolves after a reload");
    is_int(r->size, 10000000000LL, "with its size");
    artifacts_ver_free(r);
    is_int(artifacts_resolve(srv, "model", "research", &r, &err), 0, "model resolves");
    is_int(json_integer_value(json_object_get(r->lineage, "job")), 7, "with its lineage");
    artifacts_ver_free(r);
    artifact_new_t again = {.name = "ds", .team = "research", .user = "a", .manifest = man2,
                            .volume = "datasets", .path = "x"};
    is_int(artifacts_add_version(srv, &again, &v, &ticket, &err), 0, "a new version of ds");
    is_int(v->version, 3, "is 3: numbers are never reused");
    artifacts_ver_free(v);
    pthread_mutex_unlock(&srv->mu);
    close_srv(srv);

    /* a store of schema version 5 gains the artifact tables */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db \"DROP TABLE artifacts; DROP TABLE "
             "artifact_versions; DROP TABLE artifact_aliases; PRAGMA user_version = 5\"", dir);
    is_int(system(cmd), 0, "made a version-5 store");
    store_t *st = NULL;
    is_int(store_open(dir, &st, &err), 0, "it opens: %s", err.msg);
    store_close(st);
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db 'PRAGMA user_version; SELECT count(*) "
             "FROM artifacts; SELECT count(*) FROM artifact_versions; SELECT count(*) FROM "
             "artifact_aliases' | tr '\\n' ' ' | grep -qx '7 0 0 0 '", dir);
    is_int(system(cmd), 0, "and is version 7 (6 and the leader's 7) with the three tables");

    json_decref(man);
    json_decref(man2);
    json_decref(man3);
    json_decref(man4);
    json_decref(lin);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
