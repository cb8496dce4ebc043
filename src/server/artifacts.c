/* artifacts.c: the registry in memory, its store documents, resolution, access, quotas. */
#include "server/artifacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/manifest.h"
#include "server/blobs.h"

/* The most entries one manifest may have (a version of 10 million files would be 1.5 GB of
 * JSON in memory; split such a dataset or register it in place). */
#define MANIFEST_MAX_ENTRIES 2000000

typedef struct ver {
    int64_t version;
    char digest[GT_DIGEST_LEN];
    uint64_t size, files;
    json_t *manifest;
    char *volume, *path;
    json_t *lineage;
    char *created_by;
    int64_t created;
    bool hidden;
    json_t *blob_index;      /* sha256 -> size of its files (not links), built on first use */
} ver_t;

typedef struct art {
    char *name, *team, *kind;
    bool public_;
    json_t *metadata;
    char *created_by;
    int64_t created;
    int64_t last_version;    /* the highest number ever given (never reused) */
    ver_t **vers;            /* ascending version */
    size_t nvers, cap;
    json_t *aliases;         /* alias -> version */
} art_t;

struct artifacts {
    art_t **arts;            /* sorted by name */
    size_t n, cap;
    json_t *uploaded;        /* team -> {sha256: true}: blobs the team sent whole since the
                                server started (it may then use them in a version) */
    json_t *quota_set;       /* team -> true: an admin set its storage quota (the store keeps
                                it in the team's document) */
};

/* ---- names ---- */

bool artifacts_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

bool artifacts_alias_ok(const char *s)
{
    if (!artifacts_name_ok(s) || !strcmp(s, "latest"))
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return true;
    return false; /* all digits: it would read as a version number */
}

static bool kind_ok(const char *k)
{
    return k && (!strcmp(k, "dataset") || !strcmp(k, "model") || !strcmp(k, "other"));
}

/* ---- the registry in memory ---- */

static struct artifacts *reg(server_t *srv)
{
    if (!srv->artifacts)
        srv->artifacts = xcalloc(1, sizeof(struct artifacts));
    return srv->artifacts;
}

static void ver_free(ver_t *v)
{
    if (!v)
        return;
    json_decref(v->manifest);
    json_decref(v->lineage);
    json_decref(v->blob_index);
    free(v->volume);
    free(v->path);
    free(v->created_by);
    free(v);
}

static void art_free(art_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nvers; i++)
        ver_free(a->vers[i]);
    free(a->vers);
    free(a->name);
    free(a->team);
    free(a->kind);
    free(a->created_by);
    json_decref(a->metadata);
    json_decref(a->aliases);
    free(a);
}

/* Index of name in the sorted array, or where it would go (*found false). */
static size_t art_pos(struct artifacts *r, const char *name, bool *found)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->arts[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static art_t *art_find(server_t *srv, const char *name)
{
    struct artifacts *r = reg(srv);
    bool found;
    size_t i = art_pos(r, name, &found);
    return found ? r->arts[i] : NULL;
}

static art_t *art_insert(server_t *srv, const char *name)
{
    struct artifacts *r = reg(srv);
    bool found;
    size_t i = art_pos(r, name, &found);
    if (found)
        return r->arts[i];
    GT_GROW(r->arts, r->cap, r->n + 1);
    memmove(&r->arts[i + 1], &r->arts[i], (r->n - i) * sizeof(*r->arts));
    art_t *a = xcalloc(1, sizeof(*a));
    a->name = xstrdup(name);
    a->aliases = json_object();
    a->metadata = json_object();
    r->arts[i] = a;
    r->n++;
    return a;
}

static ver_t *ver_find(const art_t *a, int64_t version)
{
    size_t lo = 0, hi = a->nvers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->vers[mid]->version == version)
            return a->vers[mid];
        if (a->vers[mid]->version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void ver_insert(art_t *a, ver_t *v)
{
    size_t i = a->nvers;
    while (i > 0 && a->vers[i - 1]->version > v->version)
        i--;
    GT_GROW(a->vers, a->cap, a->nvers + 1);
    memmove(&a->vers[i + 1], &a->vers[i], (a->nvers - i) * sizeof(*a->vers));
    a->vers[i] = v;
    a->nvers++;
    if (v->version > a->last_version)
        a->last_version = v->version;
}

static void ver_remove(art_t *a, int64_t version)
{
    for (size_t i = 0; i < a->nvers; i++)
        if (a->vers[i]->version == version) {
            ver_free(a->vers[i]);
            memmove(&a->vers[i], &a->vers[i + 1], (a->nvers - i - 1) * sizeof(*a->vers));
            a->nvers--;
            return;
        }
}

static bool may_read(const art_t *a, const char *team)
{
    return !team || a->public_ || !strcmp(a->team, team);
}

/* ---- documents (the store's) ---- */

static char *art_doc(const art_t *a)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s?, s:I, s:I}", "name", a->name, "team",
                          a->team, "kind", a->kind, "visibility", a->public_ ? "public" : "team",
                          "metadata", a->metadata, "created_by", a->created_by, "created",
                          (json_int_t)a->created, "last_version", (json_int_t)a->last_version);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static json_t *location_json(const ver_t *v)
{
    return v->volume ? json_pack("{s:s, s:s, s:s}", "type", "in_place", "volume", v->volume,
                                 "path", v->path)
                     : json_pack("{s:s}", "type", "blob");
}

static char *ver_doc(const ver_t *v)
{
    json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:O?, s:o, s:s?, s:I, s:b}", "version",
                          (json_int_t)v->version, "digest", v->digest, "size",
                          (json_int_t)v->size, "files", (json_int_t)v->files, "manifest",
                          v->manifest, "location", location_json(v), "created_by",
                          v->created_by, "created", (json_int_t)v->created, "hidden",
                          v->hidden);
    if (v->lineage)
        json_object_set(o, "lineage", v->lineage);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int on_art(void *arg, const char *name, const char *doc)
{
    server_t *srv = arg;
    json_t *o = json_loads(doc, 0, NULL);
    const char *team = json_string_value(json_object_get(o, "team"));
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!artifacts_name_ok(name) || !team || !kind_ok(kind)) {
        json_decref(o);
        return -1;
    }
    art_t *a = art_insert(srv, name);
    a->team = xstrdup(team);
    a->kind = xstrdup(kind);
    a->public_ = !strcmp(json_string_value(json_object_get(o, "visibility")) ?: "", "public");
    json_t *md = json_object_get(o, "metadata");
    if (json_is_object(md)) {
        json_decref(a->metadata);
        a->metadata = json_incref(md);
    }
    const char *by = json_string_value(json_object_get(o, "created_by"));
    a->created_by = by ? xstrdup(by) : NULL;
    a->created = (int64_t)json_integer_value(json_object_get(o, "created"));
    a->last_version = (int64_t)json_integer_value(json_object_get(o, "last_version"));
    json_decref(o);
    return 0;
}

static int on_ver(void *arg, const char *name, int64_t version, const char *doc)
{
    server_t *srv = arg;
    art_t *a = art_find(srv, name);
    json_t *o = json_loads(doc, 0, NULL);
    const char *digest = json_string_value(json_object_get(o, "digest"));
    json_t *loc = json_object_get(o, "location");
    json_t *man = json_object_get(o, "manifest");
    if (!a || version < 1 || !gt_digest_ok(digest) || !json_is_object(loc) ||
        !(json_is_array(man) || (json_is_null(man) && json_object_get(loc, "volume")))) {
        json_decref(o);
        return -1;
    }
    ver_t *v = xcalloc(1, sizeof(*v));
    v->version = version;
    snprintf(v->digest, sizeof(v->digest), "%s", digest);
    v->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
    v->files = (uint64_t)json_integer_value(json_object_get(o, "files"));
    v->manifest = json_is_array(man) ? json_incref(man) : NULL;
    if (!strcmp(json_string_value(json_object_get(loc, "type")) ?: "", "in_place")) {
        v->volume = xstrdup(json_string_value(json_object_get(loc, "volume")) ?: "");
        v->path = xstrdup(json_string_value(json_object_get(loc, "path")) ?: "");
    }
    json_t *lin = json_object_get(o, "lineage");
    v->lineage = json_is_object(lin) ? json_incref(lin) : NULL;
    const char *by = json_string_value(json_object_get(o, "created_by"));
    v->created_by = by ? xstrdup(by) : NULL;
    v->created = (int64_t)json_integer_value(json_object_get(o, "created"));
    v->hidden = json_is_true(json_object_get(o, "hidden"));
    ver_insert(a, v);
    json_decref(o);
    return 0;
}

static int on_alias(void *arg, const char *name, const char *alias, int64_t version)
{
    art_t *a = art_find(arg, name);
    if (!a)
        return -1;
    json_object_set_new(a->aliases, alias, json_integer(version));
    return 0;
}

int artifacts_load(server_t *srv, gt_error_t *err)
{
    reg(srv);
    if (blobs_open(srv->data_dir, srv->upload_expiry_s, &srv->blobs, err) < 0)
        return -1;
    if (store_load_artifacts(srv->store, on_art, srv, err) < 0 ||
        store_load_artifact_versions(srv->store, on_ver, srv, err) < 0 ||
        store_load_artifact_aliases(srv->store, on_alias, srv, err) < 0)
        return -1;
    return 0;
}

void artifacts_free(server_t *srv)
{
    struct artifacts *r = srv->artifacts;
    if (r) {
        for (size_t i = 0; i < r->n; i++)
            art_free(r->arts[i]);
        free(r->arts);
        json_decref(r->uploaded);
        json_decref(r->quota_set);
        free(r);
        srv->artifacts = NULL;
    }
    blobs_close(srv->blobs);
    srv->blobs = NULL;
}

/* ---- resolution ---- */

static artifact_ver_t *ver_copy(const art_t *a, const ver_t *v)
{
    artifact_ver_t *c = xcalloc(1, sizeof(*c));
    c->name = xstrdup(a->name);
    c->version = v->version;
    memcpy(c->digest, v->digest, sizeof(c->digest));
    c->kind = xstrdup(a->kind);
    c->team = xstrdup(a->team);
    c->public_ = a->public_;
    c->size = v->size;
    c->files = v->files;
    c->manifest = v->manifest ? json_incref(v->manifest) : NULL;
    c->volume = v->volume ? xstrdup(v->volume) : NULL;
    c->path = v->path ? xstrdup(v->path) : NULL;
    c->lineage = v->lineage ? json_incref(v->lineage) : NULL;
    c->created_by = v->created_by ? xstrdup(v->created_by) : NULL;
    c->created = v->created;
    c->hidden = v->hidden;
    return c;
}

void artifacts_ver_free(artifact_ver_t *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->kind);
    free(v->team);
    json_decref(v->manifest);
    free(v->volume);
    free(v->path);
    json_decref(v->lineage);
    free(v->created_by);
    free(v);
}

/* The version ref names in a (ref's part after the name: "" latest, "@N", ":alias"), hidden
 * ones included; NULL with err. */
static ver_t *ver_of_ref(const art_t *a, const char *sel, gt_error_t *err)
{
    if (!*sel || !strcmp(sel, ":latest")) {
        for (size_t i = a->nvers; i > 0; i--)
            if (!a->vers[i - 1]->hidden)
                return a->vers[i - 1];
        errno = ENOENT;
        gt_error_set(err, "not_found", "artifact '%s' has no version", a->name);
        return NULL;
    }
    if (sel[0] == '@') {
        int64_t n;
        if (gt_parse_int64(sel + 1, 1, INT64_MAX, &n, NULL) < 0) {
            gt_error_invalid(err, "'%s%s': a version is a number from 1 ('%s@3')", a->name, sel,
                             a->name);
            return NULL;
        }
        ver_t *v = ver_find(a, n);
        if (!v) {
            errno = ENOENT;
            gt_error_set(err, "not_found", "artifact '%s' has no version %lld", a->name,
                         (long long)n);
        }
        return v;
    }
    json_t *n = json_object_get(a->aliases, sel + 1);
    ver_t *v = n ? ver_find(a, json_integer_value(n)) : NULL;
    if (!v) {
        errno = ENOENT;
        gt_error_set(err, "not_found", "artifact '%s' has no alias '%s'", a->name, sel + 1);
    }
    return v;
}

/* Splits ref into its artifact and the rest ("", "@N", ":alias"); NULL with err when the
 * name is not one. */
static art_t *art_of_ref(server_t *srv, const char *ref, const char *team, const char **sel,
                         gt_error_t *err)
{
    char name[64];
    size_t n = strcspn(ref ? ref : "", "@:");
    if (!ref || n == 0 || n >= sizeof(name)) {
        gt_error_invalid(err, "'%s' is not an artifact reference (NAME, NAME@VERSION or "
                         "NAME:ALIAS)", ref ? ref : "");
        return NULL;
    }
    memcpy(name, ref, n);
    name[n] = '\0';
    if (!artifacts_name_ok(name)) {
        gt_error_invalid(err, "'%s' is not an artifact name (1 to 63 of A-Z a-z 0-9 . _ -, "
                         "beginning with a letter or digit)", name);
        return NULL;
    }
    art_t *a = art_find(srv, name);
    if (!a || !may_read(a, team)) {
        errno = ENOENT;
        gt_error_set(err, "not_found", "artifact '%s' does not exist (or is not shared with "
                     "team '%s')", name, team ? team : "");
        return NULL;
    }
    *sel = ref + n;
    return a;
}

int artifacts_resolve(server_t *srv, const char *ref, const char *team, artifact_ver_t **out,
                      gt_error_t *err)
{
    const char *sel;
    art_t *a = art_of_ref(srv, ref, team, &sel, err);
    if (!a)
        return -1;
    ver_t *v = ver_of_ref(a, sel, err);
    if (!v)
        return -1;
    if (v->hidden) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "%s@%lld was removed (it is kept, hidden, for "
                            "the jobs and lineage that use it)", a->name, (long long)v->version);
    }
    *out = ver_copy(a, v);
    return 0;
}

int artifacts_may_write(server_t *srv, const char *name, const char *team, gt_error_t *err)
{
    if (!artifacts_name_ok(name))
        return gt_error_invalid(err, "'%s' is not an artifact name (1 to 63 of A-Z a-z 0-9 . _ "
                                "-, beginning with a letter or digit)", name ? name : "");
    art_t *a = art_find(srv, name);
    if (!a || !team || !strcmp(a->team, team))
        return 0;
    errno = EACCES;
    if (may_read(a, team))
        return gt_error_set(err, "forbidden", "artifact '%s' belongs to team '%s': team '%s' "
                            "may read it, not write it", name, a->team, team);
    return gt_error_set(err, "forbidden", "artifact '%s' belongs to another team", name);
}

void artifacts_each(server_t *srv, int (*fn)(void *arg, const artifact_ver_t *v), void *arg)
{
    struct artifacts *r = reg(srv);
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->arts[i]->nvers; k++) {
            artifact_ver_t *c = ver_copy(r->arts[i], r->arts[i]->vers[k]);
            int stop = fn(arg, c);
            artifacts_ver_free(c);
            if (stop)
                return;
        }
}

static bool names_version(const json_t *refs, const char *name, int64_t version,
                          const char *name_key)
{
    size_t i;
    json_t *in;
    json_array_foreach(refs, i, in)
    {
        const char *n = json_string_value(json_object_get(in, name_key));
        if (n && !strcmp(n, name) && json_integer_value(json_object_get(in, "version")) == version)
            return true;
    }
    return false;
}

bool artifacts_version_in_use(server_t *srv, const char *name, int64_t version, char *why,
                              size_t whylen)
{
    struct artifacts *r = reg(srv);
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->arts[i]->nvers; k++) {
            const ver_t *v = r->arts[i]->vers[k];
            if (v->lineage && names_version(json_object_get(v->lineage, "inputs"), name,
                                            version, "artifact")) {
                if (why)
                    snprintf(why, whylen, "it is an input of %s@%lld's lineage",
                             r->arts[i]->name, (long long)v->version);
                return true;
            }
        }
    /* a job that runs (or stops) with it among its inputs: the job's document says so
     * (resolved at submission to {artifact: NAME, version, digest, ref, path, ...}) */
    for (uint64_t id = 1; id < srv->next_id && id < srv->jobs_cap; id++) {
        job_t *j = srv->jobs[id];
        if (!j || j->state != JOB_RUNNING)
            continue;
        json_t *doc = job_to_json(j);
        bool uses = names_version(json_object_get(doc, "inputs"), name, version, "artifact");
        json_decref(doc);
        if (uses) {
            if (why)
                snprintf(why, whylen, "running job %llu reads it", (unsigned long long)id);
            return true;
        }
    }
    return false;
}

/* ---- quotas ---- */

/* The distinct blobs of team's blob-store versions: hex -> size (a new object). */
static json_t *team_blobs(server_t *srv, const char *team)
{
    json_t *set = json_object();
    struct artifacts *r = reg(srv);
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->arts[i]->team, team))
            continue;
        for (size_t k = 0; k < r->arts[i]->nvers; k++) {
            const ver_t *v = r->arts[i]->vers[k];
            if (v->volume)
                continue;
            size_t e;
            json_t *f;
            json_array_foreach(v->manifest, e, f)
            {
                if (json_object_get(f, "link"))
                    continue;
                json_object_set(set, json_string_value(json_object_get(f, "sha256")),
                                json_object_get(f, "size"));
            }
        }
    }
    return set;
}

static uint64_t set_bytes(const json_t *set)
{
    uint64_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)set, k, v) n += (uint64_t)json_integer_value(v);
    return n;
}

uint64_t artifacts_team_usage(server_t *srv, const char *team)
{
    json_t *set = team_blobs(srv, team);
    uint64_t n = set_bytes(set);
    json_decref(set);
    return n + (srv->blobs ? blobs_uploads_pending(srv->blobs, team) : 0);
}

int64_t artifacts_team_quota(server_t *srv, const char *team)
{
    json_t *q = srv->storage_quotas ? json_object_get(srv->storage_quotas, team) : NULL;
    return q ? (int64_t)json_integer_value(q) : -1;
}

void artifacts_quota_set(server_t *srv, const char *team, int64_t bytes)
{
    struct artifacts *r = reg(srv);
    if (!r->quota_set)
        r->quota_set = json_object();
    json_object_set_new(r->quota_set, team, json_true());
    if (!srv->storage_quotas)
        srv->storage_quotas = json_object();
    if (bytes >= 0)
        json_object_set_new(srv->storage_quotas, team, json_integer((json_int_t)bytes));
    else
        json_object_del(srv->storage_quotas, team);
}

void artifacts_quota_doc(server_t *srv, const char *team, json_t *doc)
{
    struct artifacts *r = reg(srv);
    if (r->quota_set && json_object_get(r->quota_set, team))
        json_object_set_new(doc, "storage_quota",
                            json_integer((json_int_t)artifacts_team_quota(srv, team)));
}

void artifacts_quota_load(server_t *srv, const char *team, const json_t *doc)
{
    json_t *q = json_object_get(doc, "storage_quota");
    if (json_is_integer(q))
        artifacts_quota_set(srv, team, json_integer_value(q) >= 0 ? json_integer_value(q) : -1);
}

/* ---- new versions ---- */

int artifacts_add_version(server_t *srv, const artifact_new_t *nv, artifact_ver_t **out,
                          uint64_t *ticket, gt_error_t *err)
{
    if (!nv->team || !*nv->team)
        return gt_error_invalid(err, "a version needs the team that owns the artifact");
    if (artifacts_may_write(srv, nv->name, nv->team, err) < 0)
        return -1;
    if (nv->kind && !kind_ok(nv->kind))
        return gt_error_invalid(err, "kind '%s' is not one of dataset, model, other", nv->kind);
    if (nv->visibility && strcmp(nv->visibility, "team") && strcmp(nv->visibility, "public"))
        return gt_error_invalid(err, "visibility '%s' is not team or public", nv->visibility);
    if (nv->metadata && !json_is_object(nv->metadata))
        return gt_error_invalid(err, "metadata must be an object");
    if (nv->lineage && !json_is_object(nv->lineage))
        return gt_error_invalid(err, "lineage must be an object");
    if ((nv->volume == NULL) != (nv->path == NULL))
        return gt_error_invalid(err, "an in-place version needs both its volume and its path");
    manifest_t *m = NULL;
    bool no_manifest = !nv->manifest && nv->volume && gt_digest_ok(nv->digest);
    if (!nv->manifest && !no_manifest)
        return gt_error_invalid(err, "a version needs its manifest ([{path, size, sha256}]); "
                                "only one in place may give just its digest");
    if (no_manifest) /* in place, hashed on a node that sent the digest alone (a huge tree) */
        m = manifest_new();
    else if (manifest_from_json(nv->manifest, MANIFEST_MAX_ENTRIES, &m, err) < 0)
        return -1;
    char digest[GT_DIGEST_LEN];
    if (no_manifest)
        snprintf(digest, sizeof(digest), "%s", nv->digest);
    else
        manifest_digest(m, digest);
    if (nv->digest && strcmp(nv->digest, digest)) {
        manifest_free(m);
        return gt_error_invalid(err, "the digest given (%s) is not the manifest's (%s)",
                                nv->digest, digest);
    }
    art_t *a = art_find(srv, nv->name);
    if (!nv->volume) {
        /* every file's bytes must be in the blob store, and fit the team's quota */
        json_t *have = team_blobs(srv, nv->team);
        uint64_t before = set_bytes(have);
        size_t missing = 0;
        const char *first = NULL;
        for (size_t i = 0; i < m->n; i++) {
            const manifest_entry_t *e = &m->entries[i];
            if (e->link)
                continue;
            if (!artifacts_blob_available(srv, nv->team, e->sha256, e->size)) {
                if (!missing++)
                    first = e->path;
                continue;
            }
            json_object_set_new(have, e->sha256, json_integer((json_int_t)e->size));
        }
        uint64_t after = set_bytes(have);
        json_decref(have);
        if (missing) {
            errno = ENOENT;
            gt_error_set(err, "missing_blobs", "%zu files of the manifest are not in the blob "
                         "store (the first: %s): upload them first", missing, first);
            manifest_free(m);
            return -1;
        }
        int64_t quota = artifacts_team_quota(srv, nv->team);
        uint64_t pending = blobs_uploads_pending(srv->blobs, nv->team);
        if (quota >= 0 && after > before && after + pending > (uint64_t)quota) {
            errno = EDQUOT;
            gt_error_set(err, "quota_exceeded", "team '%s' would hold %llu bytes in the blob "
                         "store, over its storage quota of %lld bytes (it holds %llu): remove "
                         "versions it no longer needs (gantry artifact rm) or ask an admin "
                         "for more", nv->team, (unsigned long long)(after + pending),
                         (long long)quota, (unsigned long long)(before + pending));
            manifest_free(m);
            return -1;
        }
    }
    bool created = !a;
    if (created) {
        a = art_insert(srv, nv->name);
        a->team = xstrdup(nv->team);
        a->kind = xstrdup(nv->kind ? nv->kind : "other");
        a->public_ = nv->visibility && !strcmp(nv->visibility, "public");
        if (nv->metadata) {
            json_decref(a->metadata);
            a->metadata = json_deep_copy(nv->metadata);
        }
        a->created_by = nv->user ? xstrdup(nv->user) : NULL;
        a->created = (int64_t)time(NULL);
    }
    ver_t *v = xcalloc(1, sizeof(*v));
    v->version = a->last_version + 1;
    memcpy(v->digest, digest, sizeof(digest));
    v->size = no_manifest ? nv->size : m->size;
    v->files = no_manifest ? nv->files : m->n;
    v->manifest = no_manifest ? NULL : manifest_to_json(m);
    manifest_free(m);
    v->volume = nv->volume ? xstrdup(nv->volume) : NULL;
    v->path = nv->path ? xstrdup(nv->path) : NULL;
    v->lineage = nv->lineage ? json_deep_copy(nv->lineage) : NULL;
    v->created_by = nv->user ? xstrdup(nv->user) : NULL;
    v->created = (int64_t)time(NULL);
    ver_insert(a, v);
    char *adoc = art_doc(a), *vdoc = ver_doc(v);
    store_op_t ops[2] = {
        {.kind = STORE_ARTIFACT_PUT, .a = a->name, .b = a->team, .d = adoc},
        {.kind = STORE_ARTIFACT_VERSION_PUT, .a = a->name, .n = v->version, .b = v->digest,
         .d = vdoc},
    };
    uint64_t t = store_enqueue(srv->store, ops, 2);
    free(adoc);
    free(vdoc);
    if (ticket)
        *ticket = t;
    if (out)
        *out = ver_copy(a, v);
    return 0;
}

/* ---- used by api_artifacts.c (caller holds mu) ---- */

/* The artifact as who (team; NULL all) sees it: {name, kind, team, visibility, metadata,
 * created, created_by, versions: [...], aliases: {}}; versions without their manifests, hidden
 * ones only when show_hidden. NULL when it does not exist or team may not read it. */
json_t *artifacts_view(server_t *srv, const char *name, const char *team, bool show_hidden)
{
    art_t *a = art_find(srv, name);
    if (!a || !may_read(a, team))
        return NULL;
    json_t *vs = json_array();
    for (size_t i = 0; i < a->nvers; i++) {
        const ver_t *v = a->vers[i];
        if (v->hidden && !show_hidden)
            continue;
        json_t *o = json_pack("{s:I, s:s, s:I, s:I, s:o, s:s?, s:I}", "version",
                              (json_int_t)v->version, "digest", v->digest, "size",
                              (json_int_t)v->size, "files", (json_int_t)v->files, "location",
                              location_json(v), "created_by", v->created_by, "created",
                              (json_int_t)v->created);
        if (v->hidden)
            json_object_set_new(o, "hidden", json_true());
        if (v->lineage)
            json_object_set_new(o, "job", json_incref(json_object_get(v->lineage, "job")
                                                          ?: json_null()));
        json_array_append_new(vs, o);
    }
    int64_t latest = 0;
    for (size_t i = a->nvers; i > 0 && !latest; i--)
        if (!a->vers[i - 1]->hidden)
            latest = a->vers[i - 1]->version;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s?, s:I, s:o, s:O}", "name", a->name,
                          "kind", a->kind, "team", a->team, "visibility",
                          a->public_ ? "public" : "team", "metadata", a->metadata,
                          "created_by", a->created_by, "created", (json_int_t)a->created,
                          "versions", vs, "aliases", a->aliases);
    if (latest)
        json_object_set_new(o, "latest", json_integer(latest));
    return o;
}

/* Names of the artifacts team may read, in name order (a new array). */
json_t *artifacts_names(server_t *srv, const char *team)
{
    json_t *arr = json_array();
    struct artifacts *r = reg(srv);
    for (size_t i = 0; i < r->n; i++)
        if (may_read(r->arts[i], team))
            json_array_append_new(arr, json_string(r->arts[i]->name));
    return arr;
}

/* A version as the API shows it, manifest included (a new object); hidden ones too (only the
 * caller decides). NULL with err. */
json_t *artifacts_version_view(server_t *srv, const char *ref, const char *team,
                               gt_error_t *err)
{
    const char *sel;
    art_t *a = art_of_ref(srv, ref, team, &sel, err);
    ver_t *v = a ? ver_of_ref(a, sel, err) : NULL;
    if (!v)
        return NULL;
    json_t *aliases = json_array();
    const char *k;
    json_t *n;
    json_object_foreach(a->aliases, k, n) if (json_integer_value(n) == v->version)
        json_array_append_new(aliases, json_string(k));
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:O?, s:s?, s:I, "
                          "s:o}", "name", a->name, "version", (json_int_t)v->version, "digest",
                          v->digest, "kind", a->kind, "team", a->team, "visibility",
                          a->public_ ? "public" : "team", "size", (json_int_t)v->size, "files",
                          (json_int_t)v->files, "location", location_json(v), "manifest",
                          v->manifest, "created_by", v->created_by, "created",
                          (json_int_t)v->created, "aliases", aliases);
    if (v->lineage)
        json_object_set(o, "lineage", v->lineage);
    if (v->hidden)
        json_object_set_new(o, "hidden", json_true());
    return o;
}

static json_t *blob_index(ver_t *v)
{
    if (!v->blob_index) {
        v->blob_index = json_object();
        size_t e;
        json_t *f;
        json_array_foreach(v->manifest, e, f)
        if (!json_object_get(f, "link"))
            json_object_set(v->blob_index, json_string_value(json_object_get(f, "sha256")),
                            json_object_get(f, "size"));
    }
    return v->blob_index;
}

int artifacts_version_blob(server_t *srv, const char *ref, const char *team, const char *hex,
                           gt_error_t *err)
{
    const char *sel;
    art_t *a = art_of_ref(srv, ref, team, &sel, err);
    ver_t *v = a ? ver_of_ref(a, sel, err) : NULL;
    if (!v)
        return -1;
    if (v->volume) {
        errno = EISDIR;
        return gt_error_set(err, "conflict", "%s@%lld lives in place on volume %s: its files "
                            "are read there, not downloaded", a->name, (long long)v->version,
                            v->volume);
    }
    if (!gt_sha256_hex_ok(hex) || !json_object_get(blob_index(v), hex)) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "%s@%lld has no file with sha256 %s", a->name,
                            (long long)v->version, hex);
    }
    return 0;
}

/* Whether blob hex is a file of a version team may read (a download of it is allowed). */
bool artifacts_blob_readable(server_t *srv, const char *hex, const char *team)
{
    struct artifacts *r = reg(srv);
    for (size_t i = 0; i < r->n; i++) {
        if (!may_read(r->arts[i], team))
            continue;
        for (size_t k = 0; k < r->arts[i]->nvers; k++) {
            const ver_t *v = r->arts[i]->vers[k];
            if (!v->volume && json_object_get(blob_index((ver_t *)v), hex))
                return true;
        }
    }
    return false;
}

void artifacts_blob_uploaded(server_t *srv, const char *team, const char *hex)
{
    struct artifacts *r = reg(srv);
    if (!r->uploaded)
        r->uploaded = json_object();
    json_t *set = json_object_get(r->uploaded, team);
    if (!set)
        json_object_set_new(r->uploaded, team, set = json_object());
    json_object_set_new(set, hex, json_true());
}

bool artifacts_blob_available(server_t *srv, const char *team, const char *hex, uint64_t size)
{
    uint64_t have = 0;
    if (!blobs_has(srv->blobs, hex, &have) || have != size)
        return false;
    struct artifacts *r = reg(srv);
    json_t *set = r->uploaded ? json_object_get(r->uploaded, team) : NULL;
    return json_object_get(set, hex) || artifacts_blob_readable(srv, hex, team);
}

/* Whether any version (any team's) keeps blob hex. */
static bool blob_referenced(server_t *srv, const char *hex)
{
    return artifacts_blob_readable(srv, hex, NULL);
}

/* The artifact name for a write by team (NULL: admin), or NULL with err (404 hides another
 * team's private one; 403 for one team may read). */
static art_t *writable(server_t *srv, const char *name, const char *team, gt_error_t *err)
{
    art_t *a = art_find(srv, name);
    if (!a || !may_read(a, team)) {
        errno = ENOENT;
        gt_error_set(err, "not_found", "artifact '%s' does not exist (or is not shared with "
                     "team '%s')", name, team ? team : "");
        return NULL;
    }
    if (team && strcmp(a->team, team)) {
        errno = EACCES;
        gt_error_set(err, "forbidden", "artifact '%s' belongs to team '%s': team '%s' may read "
                     "it, not change it", name, a->team, team);
        return NULL;
    }
    return a;
}

int artifacts_alias_set(server_t *srv, const char *name, const char *alias, int64_t version,
                        const char *team, uint64_t *ticket, gt_error_t *err)
{
    art_t *a = writable(srv, name, team, err);
    if (!a)
        return -1;
    if (!artifacts_alias_ok(alias))
        return gt_error_invalid(err, "'%s' is not an alias (a name of A-Z a-z 0-9 . _ -, not "
                                "all digits, not 'latest')", alias);
    ver_t *v = ver_find(a, version);
    if (!v || v->hidden) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "artifact '%s' has no version %lld", name,
                            (long long)version);
    }
    store_op_t op = {.kind = STORE_ARTIFACT_ALIAS_PUT, .a = a->name, .b = alias, .n = version};
    uint64_t t = store_enqueue_client(srv->store, &op, 1);
    pthread_mutex_unlock(&srv->mu);
    int rc = store_wait(srv->store, t, err);
    pthread_mutex_lock(&srv->mu);
    if (rc < 0)
        return -1;
    a = art_find(srv, name);
    if (a)
        json_object_set_new(a->aliases, alias, json_integer(version));
    *ticket = 0;
    return 0;
}

int artifacts_alias_del(server_t *srv, const char *name, const char *alias, const char *team,
                        gt_error_t *err)
{
    art_t *a = writable(srv, name, team, err);
    if (!a)
        return -1;
    if (!json_object_get(a->aliases, alias)) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "artifact '%s' has no alias '%s'", name, alias);
    }
    store_op_t op = {.kind = STORE_ARTIFACT_ALIAS_DEL, .a = a->name, .b = alias};
    uint64_t t = store_enqueue_client(srv->store, &op, 1);
    pthread_mutex_unlock(&srv->mu);
    int rc = store_wait(srv->store, t, err);
    pthread_mutex_lock(&srv->mu);
    if (rc < 0)
        return -1;
    a = art_find(srv, name);
    if (a)
        json_object_del(a->aliases, alias);
    return 0;
}

int artifacts_update(server_t *srv, const char *name, const char *visibility,
                     const json_t *metadata, const char *team, gt_error_t *err)
{
    art_t *a = writable(srv, name, team, err);
    if (!a)
        return -1;
    if (visibility && strcmp(visibility, "team") && strcmp(visibility, "public"))
        return gt_error_invalid(err, "visibility '%s' is not team or public", visibility);
    if (metadata && !json_is_object(metadata))
        return gt_error_invalid(err, "metadata must be an object");
    bool was = a->public_;
    json_t *old_md = json_incref(a->metadata);
    if (visibility)
        a->public_ = !strcmp(visibility, "public");
    if (metadata) {
        a->metadata = json_deep_copy(metadata);
    }
    char *doc = art_doc(a);
    /* back to what memory held until the commit says otherwise */
    a->public_ = was;
    if (metadata) {
        json_decref(a->metadata);
        a->metadata = json_incref(old_md);
    }
    json_decref(old_md);
    store_op_t op = {.kind = STORE_ARTIFACT_PUT, .a = a->name, .b = a->team, .d = doc};
    uint64_t t = store_enqueue_client(srv->store, &op, 1);
    free(doc);
    pthread_mutex_unlock(&srv->mu);
    int rc = store_wait(srv->store, t, err);
    pthread_mutex_lock(&srv->mu);
    if (rc < 0)
        return -1;
    a = art_find(srv, name);
    if (a) {
        if (visibility)
            a->public_ = !strcmp(visibility, "public");
        if (metadata) {
            json_decref(a->metadata);
            a->metadata = json_deep_copy(metadata);
        }
    }
    return 0;
}

/* Removes name@version: deleted (and its blobs no other version keeps) when nothing uses it,
 * else hidden. *hidden says which; why (160 bytes) says why hidden. Aliases naming it go. */
int artifacts_version_rm(server_t *srv, const char *name, int64_t version, const char *team,
                         bool *hidden, char *why, size_t whylen, gt_error_t *err)
{
    art_t *a = writable(srv, name, team, err);
    if (!a)
        return -1;
    ver_t *v = ver_find(a, version);
    if (!v) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "artifact '%s' has no version %lld", name,
                            (long long)version);
    }
    *hidden = artifacts_version_in_use(srv, name, version, why, whylen);
    store_op_t ops[64];
    char *docs[64] = {0};
    size_t n = 0;
    if (*hidden) {
        bool was = v->hidden;
        v->hidden = true;
        docs[n] = ver_doc(v);
        v->hidden = was;
        ops[n] = (store_op_t){.kind = STORE_ARTIFACT_VERSION_PUT, .a = a->name, .n = version,
                              .b = v->digest, .d = docs[n]};
        n++;
    } else {
        ops[n++] = (store_op_t){.kind = STORE_ARTIFACT_VERSION_DEL, .a = a->name, .n = version};
    }
    const char *k;
    json_t *x;
    json_object_foreach(a->aliases, k, x) if (json_integer_value(x) == version && n < 64)
        ops[n++] = (store_op_t){.kind = STORE_ARTIFACT_ALIAS_DEL, .a = a->name, .b = k};
    uint64_t t = store_enqueue_client(srv->store, ops, n);
    for (size_t i = 0; i < n; i++)
        free(docs[i]);
    pthread_mutex_unlock(&srv->mu);
    int rc = store_wait(srv->store, t, err);
    pthread_mutex_lock(&srv->mu);
    if (rc < 0)
        return -1;
    a = art_find(srv, name);
    v = a ? ver_find(a, version) : NULL;
    if (!v)
        return 0;
    json_t *gone = json_array();
    json_object_foreach(a->aliases, k, x) if (json_integer_value(x) == version)
        json_array_append_new(gone, json_string(k));
    size_t i;
    json_array_foreach(gone, i, x) json_object_del(a->aliases, json_string_value(x));
    json_decref(gone);
    if (*hidden) {
        v->hidden = true;
        return 0;
    }
    json_t *man = json_incref(v->manifest);
    bool in_blobs = !v->volume;
    ver_remove(a, version);
    if (in_blobs) {
        json_array_foreach(man, i, x)
        {
            const char *hex = json_string_value(json_object_get(x, "sha256"));
            if (!json_object_get(x, "link") && hex && !blob_referenced(srv, hex))
                blobs_remove(srv->blobs, hex);
        }
    }
    json_decref(man);
    return 0;
}
