/* fetch.c: blob-store inputs fetched into the node's cache (fetch.h). */
#include "agent/fetch.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "agent/worker.h"
#include "common/digest.h"
#include "common/manifest.h"

bool fetch_needed(const json_t *job)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(job, "mounts"), i, m) if (json_object_get(m, "fetch"))
        return true;
    return false;
}

/* ---- one GET ---- */

typedef struct sink {
    CURL *h;
    int fd;                  /* the file's bytes go here (-1: into body) */
    gt_buf_t body;           /* a JSON answer, or an error's */
    gt_sha256_t *hash;       /* of the bytes written to fd */
    uint64_t bytes;
    bool failed;
    void (*progress)(void *arg, uint64_t bytes);
    void *arg;
    uint64_t base;           /* bytes of earlier files, for progress */
} sink_t;

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    sink_t *s = arg;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    size_t len = sz * n;
    if (status != 200 || s->fd < 0) {
        if (s->body.len < (64u << 20))
            gt_buf_append(&s->body, p, len);
        return len;
    }
    gt_sha256_update(s->hash, p, len);
    for (size_t left = len; left;) {
        ssize_t k = write(s->fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            s->failed = true;
            return 0;
        }
        p += k;
        left -= (size_t)k;
    }
    uint64_t before = s->bytes;
    s->bytes += len;
    if (s->progress && (s->bytes >> 22) != (before >> 22)) /* every 4 MiB */
        s->progress(s->arg, s->base + s->bytes);
    return len;
}

/* GET path as the node; 200 expected. 0, or -1 with err (the server's message when it said
 * one). */
static int get(const fetch_cfg_t *cfg, const char *path, sink_t *s, gt_error_t *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return gt_error_set(err, "internal", "cannot start curl");
    char *url = gt_strfmt("%.*s%s", (int)strcspn(cfg->server, ", "), cfg->server, path);
    char *auth = gt_strfmt("Authorization: Bearer %s", cfg->token);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    gt_transport_guard_t guard;
    int rc = -1;
    if (gt_transport_apply(h, url, cfg->tp, &guard, err) < 0)
        goto out;
    s->h = h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    /* a stalled transfer (under 1 KiB/s for a minute) fails rather than hanging the job */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (s->failed) {
        gt_error_set(err, "io_error", "cannot write what %s sent: %s", path, strerror(errno));
    } else if (cc != CURLE_OK) {
        if (!gt_transport_refused(&guard, url, err))
            gt_error_set(err, "unavailable", "cannot fetch %s: %s", path, curl_easy_strerror(cc));
    } else if (status != 200) {
        json_t *j = s->body.data ? json_loadb(s->body.data, s->body.len, 0, NULL) : NULL;
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"),
                                                          "message"));
        gt_error_set(err, status == 404 ? "not_found" : "unavailable",
                     "the server answered %ld: %s", status, m ? m : "(no message)");
        json_decref(j);
    } else {
        rc = 0;
    }
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(url);
    free(auth);
    return rc;
}

/* ---- the cache ---- */

static int mkparents(const char *root, const char *rel)
{
    char *p = gt_strfmt("%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            errno = e;
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* Removes what earlier fetches of hex left in CACHE/tmp (the caller holds hex's lock: none of
 * them is in progress). */
static void sweep(const char *cache, const char *hex)
{
    char *tmp = gt_strfmt("%s/tmp", cache);
    DIR *d = opendir(tmp);
    for (struct dirent *de; d && (de = readdir(d));)
        if (!strncmp(de->d_name, hex, 64) && de->d_name[64] == '.') {
            char *p = gt_strfmt("%s/%s", tmp, de->d_name);
            runtime_remove_tree(p);
            free(p);
        }
    if (d)
        closedir(d);
    free(tmp);
}

/* Whether dir's tree hashes to digest; what differs in why when it does not. */
static bool tree_matches(const char *dir, const char *digest, char *why, size_t whylen)
{
    manifest_t *m = NULL;
    gt_error_t e = {0};
    if (manifest_of_path(dir, 0, &m, &e) < 0) {
        snprintf(why, whylen, "%s", e.msg);
        return false;
    }
    char d[GT_DIGEST_LEN];
    manifest_digest(m, d);
    manifest_free(m);
    if (strcmp(d, digest)) {
        snprintf(why, whylen, "its files hash to %s", d);
        return false;
    }
    return true;
}

/* Downloads the version's files into tmp (new), verifying each. 0, or -1 with err. */
static int download(const fetch_cfg_t *cfg, const char *base, const char *q, const manifest_t *m,
                    const char *tmp, void (*progress)(void *, uint64_t), void *arg,
                    gt_error_t *err)
{
    uint64_t done = 0;
    /* files first, links last: no link made here can send a file's bytes elsewhere */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < m->n; i++) {
            const manifest_entry_t *e = &m->entries[i];
            if ((pass == 0) == (e->link != NULL))
                continue;
            char *file = gt_strfmt("%s/%s", tmp, e->path);
            int rc = 0;
            if (mkparents(tmp, e->path) < 0) {
                rc = gt_error_set(err, "io_error", "cannot create the directories of %s: %s",
                                  file, strerror(errno));
            } else if (e->link) {
                if (symlink(e->link, file) < 0)
                    rc = gt_error_set(err, "io_error", "cannot make link %s: %s", file,
                                      strerror(errno));
            } else {
                int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0) {
                    rc = gt_error_set(err, "io_error", "cannot create %s: %s", file,
                                      strerror(errno));
                } else {
                    char *path = gt_strfmt("%s/blobs/%s%s", base, e->sha256, q);
                    sink_t s = {.fd = fd, .hash = gt_sha256_new(), .progress = progress,
                                .arg = arg, .base = done};
                    rc = get(cfg, path, &s, err);
                    char hex[65];
                    gt_sha256_final_hex(s.hash, hex);
                    gt_sha256_free(s.hash);
                    gt_buf_free(&s.body);
                    if (rc == 0 && (s.bytes != e->size || strcmp(hex, e->sha256)))
                        rc = gt_error_set(err, "digest_mismatch", "%s arrived with %" PRIu64
                                          " bytes of sha256 %s, not %" PRIu64 " of %s", e->path,
                                          s.bytes, hex, e->size, e->sha256);
                    if (rc == 0 && fsync(fd) < 0)
                        rc = gt_error_set(err, "io_error", "cannot write %s: %s", file,
                                          strerror(errno));
                    close(fd);
                    free(path);
                    done += s.bytes;
                    if (progress)
                        progress(arg, done);
                }
            }
            free(file);
            if (rc < 0)
                return -1;
        }
    return 0;
}

char *fetch_input(const fetch_cfg_t *cfg, int64_t id, int inc, int index, const char *digest,
                  void (*progress)(void *arg, uint64_t bytes), void *arg, char *note,
                  size_t notelen, gt_error_t *err)
{
    if (!gt_digest_ok(digest)) {
        gt_error_invalid(err, "'%s' is not a digest", digest ? digest : "");
        return NULL;
    }
    const char *hex = digest + 7;
    char *dir = gt_strfmt("%s/sha256/%s", cfg->cache, hex);
    char *lockp = gt_strfmt("%s/locks/%s", cfg->cache, hex);
    char *tmp = gt_strfmt("%s/tmp/%s.%d", cfg->cache, hex, (int)getpid());
    char *base = gt_strfmt("/v1/agent/inputs/%" PRId64 "/%d/%d", id, inc, index);
    char *q = gt_strfmt("?name=%s", cfg->node);
    char *mpath = gt_strfmt("%s%s", base, q);
    char why[1100] = "";
    manifest_t *m = NULL;
    json_t *v = NULL;
    int lock = -1;
    bool ok = false;
    static const char *const sub[] = {"", "/sha256", "/tmp", "/locks"};
    for (size_t i = 0; i < 4; i++) {
        char *p = gt_strfmt("%s%s", cfg->cache, sub[i]);
        int rc = gt_mkdirs(p, i == 0 || i == 1 ? 0711 : 0700, NULL);
        if (rc == 0 && (i == 0 || i == 1))
            chmod(p, 0711);
        free(p);
        if (rc < 0) {
            gt_error_set(err, "io_error", "cannot create the input cache %s: %s", cfg->cache,
                         strerror(errno));
            goto out;
        }
    }
    lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        gt_error_set(err, "io_error", "cannot lock %s: %s", lockp, strerror(errno));
        goto out;
    }
    struct stat st;
    if (lstat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode) && tree_matches(dir, digest, why, sizeof(why))) {
            ok = true; /* whole and unchanged: shared with the jobs before */
            goto out;
        }
        /* changed under the cache: never used, fetched again */
        if (note)
            snprintf(note, notelen, "the node's cached copy of %s did not match it (%s): it "
                     "was discarded and fetched again", digest, why[0] ? why : "not a directory");
        char *bad = gt_strfmt("%s/tmp/%s.bad.%d", cfg->cache, hex, (int)getpid());
        if (rename(dir, bad) < 0)
            unlink(dir);
        runtime_remove_tree(bad);
        free(bad);
    }
    sweep(cfg->cache, hex);
    sink_t s = {.fd = -1};
    int rc = get(cfg, mpath, &s, err);
    if (rc == 0)
        v = json_loadb(s.body.data ? s.body.data : "", s.body.len, 0, NULL);
    gt_buf_free(&s.body);
    if (rc < 0)
        goto out;
    if (!v || manifest_from_json(json_object_get(v, "manifest"), 0, &m, err) < 0) {
        if (!v)
            gt_error_set(err, "invalid_argument", "the server's answer for input %d of job %"
                         PRId64 " is not JSON", index, id);
        goto out;
    }
    char d[GT_DIGEST_LEN];
    manifest_digest(m, d);
    if (strcmp(d, digest)) {
        gt_error_set(err, "digest_mismatch", "the manifest the server sent for %s hashes to %s",
                     digest, d);
        goto out;
    }
    if (mkdir(tmp, 0755) < 0) {
        gt_error_set(err, "io_error", "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* the bytes before the name: nothing half-written is ever under sha256/ */
    rc = download(cfg, base, q, m, tmp, progress, arg, err);
    if (rc == 0 && !tree_matches(tmp, digest, why, sizeof(why))) {
        gt_error_set(err, "digest_mismatch", "the files fetched for %s do not match it: %s",
                     digest, why);
        rc = -1;
    }
    if (rc == 0 && rename(tmp, dir) < 0) {
        gt_error_set(err, "io_error", "cannot move %s into the cache: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        runtime_remove_tree(tmp);
        goto out;
    }
    char *sd = gt_strfmt("%s/sha256", cfg->cache);
    gt_fsync_dir(sd);
    free(sd);
    ok = true;
out:
    if (lock >= 0)
        close(lock); /* releases the flock */
    manifest_free(m);
    json_decref(v);
    free(lockp);
    free(tmp);
    free(base);
    free(q);
    free(mpath);
    if (!ok) {
        free(dir);
        return NULL;
    }
    return dir;
}

int fetch_apply(json_t *job, const json_t *result, gt_error_t *err)
{
    json_t *dirs = json_object_get(result, "dirs");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(job, "mounts"), i, m)
    {
        if (!json_object_get(m, "fetch"))
            continue;
        char key[32];
        snprintf(key, sizeof(key), "%zu", i);
        const char *dir = json_string_value(json_object_get(dirs, key));
        if (!dir)
            return gt_error_set(err, "internal", "the fetch of mount %zu (%s) left no directory",
                                i, json_string_value(json_object_get(m, "path")) ?: "?");
        json_object_set_new(m, "host_path", json_string(dir));
        json_object_set_new(m, "sub_path", json_string(""));
        json_object_set_new(m, "read_only", json_true());
    }
    return 0;
}

/* ---- the worker ---- */

typedef struct prog {
    const char *path;
    uint64_t before, total;  /* bytes of the inputs done, of all */
} prog_t;

static void on_progress(void *arg, uint64_t bytes)
{
    prog_t *p = arg;
    char text[96];
    int n = snprintf(text, sizeof(text), "{\"bytes\":%" PRIu64 ",\"total\":%" PRIu64 "}",
                     p->before + bytes, p->total);
    gt_write_file_atomic(p->path, text, (size_t)n, 0600, NULL);
}

pid_t fetch_spawn(const fetch_cfg_t *cfg, const json_t *job, const char *progress_path,
                  const char *result_path, gt_error_t *err)
{
    pid_t pid = worker_fork(5, "fetch the job's inputs", err);
    if (pid != 0)
        return pid;
    int64_t id = json_integer_value(json_object_get(job, "id"));
    int inc = (int)json_integer_value(json_object_get(job, "incarnation"));
    prog_t p = {.path = progress_path};
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(job, "mounts"), i, m)
        p.total += (uint64_t)json_integer_value(json_object_get(json_object_get(m, "fetch"),
                                                                "size"));
    on_progress(&p, 0);
    json_t *dirs = json_object(), *notes = json_array(), *res = NULL;
    json_array_foreach(json_object_get(job, "mounts"), i, m)
    {
        json_t *f = json_object_get(m, "fetch");
        if (!f)
            continue;
        gt_error_t e = {0};
        char note[800] = "";
        char *dir = fetch_input(cfg, id, inc, (int)json_integer_value(json_object_get(f, "input")),
                                json_string_value(json_object_get(f, "digest")), on_progress, &p,
                                note, sizeof(note), &e);
        if (note[0])
            json_array_append_new(notes, json_string(note));
        if (!dir) {
            res = json_object();
            char *msg = gt_strfmt("input %s@%" JSON_INTEGER_FORMAT " (%s) could not be fetched: "
                                  "%s", json_string_value(json_object_get(f, "artifact")) ?: "?",
                                  json_integer_value(json_object_get(f, "version")),
                                  json_string_value(json_object_get(m, "path")) ?: "?", e.msg);
            json_object_set_new(res, "error", json_string(msg));
            free(msg);
            break;
        }
        char key[32];
        snprintf(key, sizeof(key), "%zu", i);
        json_object_set_new(dirs, key, json_string(dir));
        free(dir);
        p.before += (uint64_t)json_integer_value(json_object_get(f, "size"));
    }
    if (!res)
        res = json_pack("{s:O}", "dirs", dirs);
    json_object_set_new(res, "notes", notes);
    json_decref(dirs);
    char what[96];
    snprintf(what, sizeof(what), "the result of the fetch of job %" PRId64 "'s inputs", id);
    worker_finish(res, result_path, what);
}
