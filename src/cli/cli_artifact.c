/* cli_artifact.c: gantry artifact push | pull | ls | show | tag | rm (docs/artifacts.md): the
 * registry's client. push hashes a directory (common/manifest.h), uploads what the server
 * lacks (streamed from the files, resumed where an earlier upload stopped) and registers the
 * version; pull downloads a version's files and verifies the whole tree against its digest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/cli_lineage.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/manifest.h"

/* Bytes one PATCH carries: small enough to finish within the server's body timeout on a slow
 * link; a failed one is resumed from the server's offset. */
#define UPLOAD_CHUNK ((uint64_t)32 << 20)
#define UPLOAD_TRIES 5

static const char *HELP =
    "usage: gantry artifact COMMAND ...\n"
    "  push NAME PATH [--kind dataset|model|other] [--public] [--meta KEY=VALUE]... [--team T]\n"
    "                 a new version of NAME from a directory (or one file), into the blob store\n"
    "  pull REF [DIR]  download a version (NAME, NAME@N or NAME:ALIAS) into DIR (default NAME)\n"
    "                 and verify every file against its digest\n"
    "  ls [--kind K]  the artifacts you can read\n"
    "  show REF       an artifact (NAME) or one version (NAME@N, NAME:ALIAS) [-o json|yaml]\n"
    "  tag REF ALIAS  point ALIAS at REF's version (moves it); tag -d NAME ALIAS removes it\n"
    "  rm REF         remove a version (hidden instead when a job or lineage uses it)\n"
    "  verify REF     hash a version's stored files again; exit 1 when one changed\n"
    "  digest PATH [--threads N]  the digest push would give PATH, computed here (no server)\n"
    "  push --in-place VOLUME:PATH NAME [--kind K] [--team T]\n"
    "                 a new version of NAME registered where its files are (a node hashes them)\n"
    "  lineage REF    what REF was made from and what was made from it [-o json|yaml]\n";

static const char *s_or(const json_t *o, const char *k, const char *d)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : d;
}

static const char *human(uint64_t n, char *buf, size_t len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
    return buf;
}

/* REF "name@3" | "name:alias" | "name" -> the API path of that version. */
static int version_path(const char *ref, char *path, size_t len)
{
    size_t n = strcspn(ref, "@:");
    char name[80];
    if (n == 0 || n >= sizeof(name))
        return -1;
    memcpy(name, ref, n);
    name[n] = '\0';
    const char *sel = ref[n] ? ref + n + 1 : "latest";
    if (!*sel)
        return -1;
    char *en = cli_escape(name), *es = cli_escape(sel);
    snprintf(path, len, "/v1/artifacts/%s/versions/%s", en, es);
    free(en);
    free(es);
    return 0;
}

/* ---- push ---- */

/* Uploads file (size bytes, digest hex) unless the server has it for the team. */
static int upload_one(const cli_t *c, const char *file, const char *hex, uint64_t size,
                      const char *team, uint64_t *sent, bool *resumed_any)
{
    gt_error_t err = {0};
    json_t *body = json_pack("{s:s, s:I}", "sha256", hex, "size", (json_int_t)size), *resp;
    if (team)
        json_object_set_new(body, "team", json_string(team));
    int st = cli_request(c, "POST", "/v1/artifacts/uploads", body, NULL, &resp, &err);
    json_decref(body);
    if (st != 200 && st != 201)
        return cli_fail_request("artifact push", st, resp, &err);
    if (json_is_true(json_object_get(resp, "exists"))) {
        json_decref(resp);
        return 0;
    }
    char id[40];
    snprintf(id, sizeof(id), "%s", s_or(resp, "id", ""));
    uint64_t offset = (uint64_t)json_integer_value(json_object_get(resp, "offset"));
    json_decref(resp);
    if (offset) {
        fprintf(stderr, "gantry artifact push: resuming the upload of %s at byte %llu of %llu\n",
                file, (unsigned long long)offset, (unsigned long long)size);
        *resumed_any = true;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        fprintf(stderr, "gantry artifact push: cannot open %s: %s\n", file, strerror(errno));
        return 1;
    }
    char path[160];
    int tries = 0;
    while (offset < size) {
        uint64_t n = size - offset < UPLOAD_CHUNK ? size - offset : UPLOAD_CHUNK;
        snprintf(path, sizeof(path), "/v1/artifacts/uploads/%s?offset=%llu", id,
                 (unsigned long long)offset);
        st = cli_send_fd(c, "PATCH", path, fd, offset, n, &resp, &err);
        uint64_t now = (uint64_t)json_integer_value(json_object_get(resp, "offset"));
        if (st == 200 && now > offset && now <= size) {
            *sent += now - offset;
            offset = now;
            json_decref(resp);
            tries = 0;
            continue;
        }
        if (st == 200) /* taken but no progress: a server that does not store the bytes */
            gt_error_set(&err, "io_error", "the server took %llu bytes of %s but its upload "
                         "stayed at byte %llu", (unsigned long long)n, file,
                         (unsigned long long)now);
        if (++tries >= UPLOAD_TRIES) {
            close(fd);
            return cli_fail_request("artifact push", st == 200 ? -1 : st, st == 200 ? NULL : resp,
                                    &err);
        }
        json_decref(resp);
        /* cut or refused (another request still holds the upload): wait a little, ask the
         * server where it stands and go on from there */
        usleep(200000u * (unsigned)tries);
        snprintf(path, sizeof(path), "/v1/artifacts/uploads/%s", id);
        if (cli_request(c, "GET", path, NULL, NULL, &resp, &err) == 200)
            offset = (uint64_t)json_integer_value(json_object_get(resp, "offset"));
        json_decref(resp);
    }
    close(fd);
    snprintf(path, sizeof(path), "/v1/artifacts/uploads/%s/commit", id);
    st = cli_request(c, "POST", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("artifact push", st, resp, &err);
    json_decref(resp);
    return 0;
}

static int push(const cli_t *c, int argc, char **argv)
{
    static const struct option opts[] = {{"kind", required_argument, 0, 'k'},
                                         {"public", no_argument, 0, 'P'},
                                         {"meta", required_argument, 0, 'm'},
                                         {"team", required_argument, 0, 't'},
                                         {"threads", required_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    const char *kind = NULL, *team = NULL;
    bool pub = false;
    int threads = 0;
    json_t *meta = json_object();
    optind = 1;
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 'k': kind = optarg; break;
        case 'P': pub = true; break;
        case 't': team = optarg; break;
        case 'j': threads = atoi(optarg); break;
        case 'm': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "gantry artifact push: --meta takes KEY=VALUE\n");
                json_decref(meta);
                return 2;
            }
            char *k = gt_strfmt("%.*s", (int)(eq - optarg), optarg);
            json_object_set_new(meta, k, json_string(eq + 1));
            free(k);
            break;
        }
        default: json_decref(meta); fprintf(stderr, "%s", HELP); return 2;
        }
    }
    if (argc - optind != 2) {
        json_decref(meta);
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    const char *name = argv[optind], *src = argv[optind + 1];
    manifest_t *m = NULL;
    gt_error_t err = {0};
    if (manifest_of_path(src, threads, &m, &err) < 0) {
        fprintf(stderr, "gantry artifact push: %s\n", err.msg);
        json_decref(meta);
        return 1;
    }
    struct stat st_src;
    bool is_dir = stat(src, &st_src) == 0 && S_ISDIR(st_src.st_mode);
    json_t *body = json_pack("{s:o}", "manifest", manifest_to_json(m));
    if (kind)
        json_object_set_new(body, "kind", json_string(kind));
    if (pub)
        json_object_set_new(body, "visibility", json_string("public"));
    if (json_object_size(meta))
        json_object_set(body, "metadata", meta);
    if (team)
        json_object_set_new(body, "team", json_string(team));
    json_decref(meta);
    char *ename = cli_escape(name);
    char *path = gt_strfmt("/v1/artifacts/%s/versions", ename);
    free(ename);
    uint64_t sent = 0;
    size_t uploaded = 0;
    bool resumed = false;
    int rc = 1;
    json_t *resp = NULL;
    for (int round = 0; round < 3; round++) {
        int st = cli_request(c, "POST", path, body, NULL, &resp, &err);
        if (st == 201) {
            char d[32], b[32];
            printf("pushed %s@%lld %s (%zu files, %s; %zu uploaded, %s sent%s)\n", name,
                   (long long)json_integer_value(json_object_get(resp, "version")),
                   s_or(resp, "digest", ""), m->n, human(m->size, d, sizeof(d)), uploaded,
                   human(sent, b, sizeof(b)), resumed ? ", resumed" : "");
            rc = 0;
            break;
        }
        if (st != 409 || strcmp(s_or(json_object_get(resp, "error"), "code", ""),
                                "missing_blobs")) {
            rc = cli_fail_request("artifact push", st, resp, &err);
            resp = NULL;
            break;
        }
        /* upload each missing blob once (the first file that has it) */
        json_t *missing = json_object();
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(resp, "missing"), i, h)
            json_object_set_new(missing, json_string_value(h), json_true());
        json_decref(resp);
        resp = NULL;
        int bad = 0;
        for (size_t k = 0; k < m->n && !bad; k++) {
            const manifest_entry_t *e = &m->entries[k];
            if (e->link || !json_object_get(missing, e->sha256))
                continue;
            json_object_del(missing, e->sha256);
            char *file = is_dir ? gt_strfmt("%s/%s", src, e->path) : xstrdup(src);
            bad = upload_one(c, file, e->sha256, e->size, team, &sent, &resumed);
            free(file);
            uploaded++;
        }
        json_decref(missing);
        if (bad)
            break;
    }
    json_decref(resp);
    json_decref(body);
    free(path);
    manifest_free(m);
    return rc;
}

/* ---- pull ---- */

static int mkparents(const char *dir, const char *rel)
{
    char *p = gt_strfmt("%s/%s", dir, rel);
    for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* The file a pull keeps in its directory until it is complete: the digest it pulls. */
#define PULL_STATE ".gantry-pull"

/* Whether path is the state file of a pull of digest (its directory is then resumed). */
static bool pull_resumable(const char *path, const char *digest)
{
    json_t *j = json_load_file(path, 0, NULL);
    bool same = j && !strcmp(s_or(j, "digest", ""), digest);
    json_decref(j);
    return same;
}

static int pull(const cli_t *c, int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    const char *ref = argv[1];
    char vpath[512];
    if (version_path(ref, vpath, sizeof(vpath)) < 0) {
        fprintf(stderr, "gantry artifact pull: '%s' is not NAME, NAME@N or NAME:ALIAS\n", ref);
        return 2;
    }
    gt_error_t err = {0};
    json_t *v = NULL;
    int st = cli_request(c, "GET", vpath, NULL, NULL, &v, &err);
    if (st != 200)
        return cli_fail_request("artifact pull", st, v, &err);
    const char *name = s_or(v, "name", "");
    long long version = (long long)json_integer_value(json_object_get(v, "version"));
    const char *digest = s_or(v, "digest", "");
    manifest_t *m = NULL;
    if (manifest_from_json(json_object_get(v, "manifest"), 0, &m, &err) < 0) {
        fprintf(stderr, "gantry artifact pull: the server's manifest of %s@%lld is not valid: "
                        "%s\n", name, version, err.msg);
        json_decref(v);
        return 1;
    }
    char d[GT_DIGEST_LEN];
    manifest_digest(m, d);
    if (strcmp(d, digest)) {
        fprintf(stderr, "gantry artifact pull: the manifest of %s@%lld hashes to %s, not its "
                        "digest %s: refusing it\n", name, version, d, digest);
        manifest_free(m);
        json_decref(v);
        return 1;
    }
    if (strcmp(s_or(json_object_get(v, "location"), "type", ""), "blob")) {
        fprintf(stderr, "gantry artifact pull: %s@%lld lives in place on volume %s (%s): jobs "
                        "mount it there; it is not in the blob store\n", name, version,
                s_or(json_object_get(v, "location"), "volume", "?"),
                s_or(json_object_get(v, "location"), "path", "?"));
        manifest_free(m);
        json_decref(v);
        return 1;
    }
    const char *dir = argc == 3 ? argv[2] : name;
    /* a new (or empty) directory: nothing in it can redirect a write; or the directory of an
     * earlier pull of the same version that was cut off (its state file says so): resumed */
    char *state = gt_strfmt("%s/%s", dir, PULL_STATE);
    bool resume = pull_resumable(state, digest);
    if (!resume && mkdir(dir, 0755) < 0 &&
        !(errno == EEXIST && rmdir(dir) == 0 && mkdir(dir, 0755) == 0)) {
        fprintf(stderr, "gantry artifact pull: %s must be a new or empty directory (or one an "
                        "interrupted pull of %s left): %s\n", dir, digest, strerror(errno));
        free(state);
        manifest_free(m);
        json_decref(v);
        return 1;
    }
    if (!resume) {
        char *text = gt_strfmt("{\"digest\":\"%s\"}\n", digest);
        gt_error_t werr = {0};
        if (gt_write_file_atomic(state, text, strlen(text), 0644, &werr) < 0)
            fprintf(stderr, "gantry artifact pull: %s (an interrupted pull will start over)\n",
                    werr.msg);
        free(text);
    }
    int rc = 0;
    uint64_t resumed_bytes = 0;
    /* files first, links last: a link made earlier cannot send a file's bytes elsewhere */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (size_t i = 0; i < m->n && !rc; i++) {
            const manifest_entry_t *e = &m->entries[i];
            if ((pass == 0) == (e->link != NULL))
                continue;
            char *file = gt_strfmt("%s/%s", dir, e->path);
            if (mkparents(dir, e->path) < 0) {
                fprintf(stderr, "gantry artifact pull: cannot create the directories of %s: "
                                "%s\n", file, strerror(errno));
                rc = 1;
            } else if (e->link) {
                if (resume)
                    unlink(file); /* made by the pull that was cut off (or not at all) */
                if (symlink(e->link, file) < 0) {
                    fprintf(stderr, "gantry artifact pull: cannot make link %s: %s\n", file,
                            strerror(errno));
                    rc = 1;
                }
            } else {
                /* resuming: what the cut-off pull wrote of it stays, the rest is asked for
                 * (Range); the whole tree is verified at the end either way */
                uint64_t have = 0;
                struct stat sb;
                if (resume && lstat(file, &sb) == 0 && S_ISREG(sb.st_mode) &&
                    (uint64_t)sb.st_size <= e->size)
                    have = (uint64_t)sb.st_size;
                else if (resume)
                    unlink(file);
                int fd = have || (resume && lstat(file, &sb) == 0)
                             ? open(file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
                             : open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                    0644);
                char *bpath = gt_strfmt("%s/blobs/%s", vpath, e->sha256);
                bool whole = false;
                if (fd < 0) {
                    fprintf(stderr, "gantry artifact pull: cannot create %s: %s\n", file,
                            strerror(errno));
                    rc = 1;
                } else if (have == e->size && have > 0) {
                    resumed_bytes += have; /* all there already */
                } else if (have > 0) {
                    fprintf(stderr, "gantry artifact pull: resuming %s at byte %llu of %llu\n",
                            e->path, (unsigned long long)have, (unsigned long long)e->size);
                    st = cli_download_fd_from(c, bpath, fd, have, &whole, &err);
                    if (st != 200 && st != 206)
                        rc = cli_fail_request("artifact pull", st, NULL, &err);
                    else if (!whole)
                        resumed_bytes += have;
                } else if ((st = cli_download_fd(c, bpath, fd, &err)) != 200) {
                    rc = cli_fail_request("artifact pull", st, NULL, &err);
                }
                if (rc && st != 200 && st != 206 && st < 400)
                    fprintf(stderr, "gantry artifact pull: run the same pull again to resume "
                                    "it\n");
                if (fd >= 0)
                    close(fd);
                free(bpath);
            }
            free(file);
        }
    if (rc == 0)
        unlink(state); /* complete: no more a pull to resume */
    free(state);
    if (rc == 0) {
        /* the whole tree, hashed again: every file, its size and the set of paths */
        manifest_t *got = NULL;
        if (manifest_of_path(dir, 0, &got, &err) < 0) {
            fprintf(stderr, "gantry artifact pull: cannot verify %s: %s\n", dir, err.msg);
            rc = 1;
        } else {
            char gd[GT_DIGEST_LEN];
            manifest_digest(got, gd);
            if (strcmp(gd, digest)) {
                gt_buf_t rep = {0};
                manifest_compare(m, got, &rep, 20);
                fprintf(stderr, "gantry artifact pull: %s does not match %s@%lld (%s != %s):\n"
                                "%s", dir, name, version, gd, digest, rep.data ? rep.data : "");
                gt_buf_free(&rep);
                rc = 1;
            } else {
                char b[32], rb[32];
                printf("pulled %s@%lld into %s: %zu files, %s, digest %s verified", name,
                       version, dir, m->n, human(m->size, b, sizeof(b)), digest);
                if (resume)
                    printf(" (resumed: %s were there already)",
                           human(resumed_bytes, rb, sizeof(rb)));
                printf("\n");
            }
            manifest_free(got);
        }
    }
    manifest_free(m);
    json_decref(v);
    return rc;
}

/* ---- ls, show, tag, rm ---- */

static const char *aliases_text(const json_t *aliases, char *buf, size_t len)
{
    size_t off = 0;
    const char *k;
    json_t *v;
    buf[0] = '\0';
    json_object_foreach((json_t *)aliases, k, v)
    {
        int n = snprintf(buf + off, len - off, "%s%s=%lld", off ? "," : "", k,
                         (long long)json_integer_value(v));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    return *buf ? buf : "-";
}

static int ls(const cli_t *c, int argc, char **argv)
{
    const char *kind = NULL;
    if (argc == 3 && !strcmp(argv[1], "--kind"))
        kind = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    char path[160];
    char *ek = kind ? cli_escape(kind) : NULL;
    snprintf(path, sizeof(path), "/v1/artifacts%s%s", ek ? "?kind=" : "", ek ? ek : "");
    free(ek);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("artifact ls", st, resp, &err);
    json_t *rows = json_object_get(resp, "artifacts");
    if (c->output == CLI_JSON || c->output == CLI_YAML) {
        c->output == CLI_JSON ? cli_print_json(rows) : cli_print_yaml(rows);
        json_decref(resp);
        return 0;
    }
    static const char *hdr[] = {"NAME", "KIND", "TEAM", "VISIBILITY", "LATEST", "VERSIONS",
                                "SIZE", "ALIASES"};
    cli_table_t *t = cli_table_new(8, hdr);
    size_t i;
    json_t *a;
    json_array_foreach(rows, i, a)
    {
        char latest[32] = "-", nv[32], size[32] = "-", al[256];
        json_t *vs = json_object_get(a, "versions");
        json_int_t lv = json_integer_value(json_object_get(a, "latest"));
        if (lv)
            snprintf(latest, sizeof(latest), "%lld", (long long)lv);
        size_t k;
        json_t *v;
        json_array_foreach(vs, k, v) if (json_integer_value(json_object_get(v, "version")) == lv)
            human((uint64_t)json_integer_value(json_object_get(v, "size")), size, sizeof(size));
        snprintf(nv, sizeof(nv), "%zu", json_array_size(vs));
        const char *cells[] = {s_or(a, "name", ""), s_or(a, "kind", ""), s_or(a, "team", ""),
                               s_or(a, "visibility", ""), latest, nv, size,
                               aliases_text(json_object_get(a, "aliases"), al, sizeof(al))};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
    json_decref(resp);
    return 0;
}

static int show(const cli_t *c, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    const char *ref = argv[1];
    char path[512];
    bool version = strpbrk(ref, "@:") != NULL;
    if (version) {
        if (version_path(ref, path, sizeof(path)) < 0) {
            fprintf(stderr, "gantry artifact show: '%s' is not NAME, NAME@N or NAME:ALIAS\n",
                    ref);
            return 2;
        }
    } else {
        char *e = cli_escape(ref);
        snprintf(path, sizeof(path), "/v1/artifacts/%s", e);
        free(e);
    }
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("artifact show", st, resp, &err);
    if (c->output == CLI_JSON)
        cli_print_json(resp);
    else {
        /* YAML; a version's manifest (maybe 100,000 lines) only with -o json|yaml */
        if (c->output != CLI_YAML && json_object_get(resp, "manifest")) {
            json_object_del(resp, "manifest");
            json_object_set_new(resp, "manifest", json_string("(-o json or -o yaml lists the "
                                                              "files)"));
        }
        cli_print_yaml(resp);
    }
    json_decref(resp);
    return 0;
}

static int tag(const cli_t *c, int argc, char **argv)
{
    gt_error_t err = {0};
    json_t *resp = NULL;
    char path[512];
    if (argc == 4 && !strcmp(argv[1], "-d")) {
        char *en = cli_escape(argv[2]), *ea = cli_escape(argv[3]);
        snprintf(path, sizeof(path), "/v1/artifacts/%s/aliases/%s", en, ea);
        free(en);
        free(ea);
        int st = cli_request(c, "DELETE", path, NULL, NULL, &resp, &err);
        if (st != 200)
            return cli_fail_request("artifact tag", st, resp, &err);
        printf("removed alias %s:%s\n", argv[2], argv[3]);
        json_decref(resp);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    /* the version REF names now, then the alias at it */
    if (version_path(argv[1], path, sizeof(path)) < 0) {
        fprintf(stderr, "gantry artifact tag: '%s' is not NAME, NAME@N or NAME:ALIAS\n", argv[1]);
        return 2;
    }
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("artifact tag", st, resp, &err);
    char name[80];
    snprintf(name, sizeof(name), "%s", s_or(resp, "name", ""));
    json_int_t version = json_integer_value(json_object_get(resp, "version"));
    json_decref(resp);
    char *en = cli_escape(name), *ea = cli_escape(argv[2]);
    snprintf(path, sizeof(path), "/v1/artifacts/%s/aliases/%s", en, ea);
    free(en);
    free(ea);
    json_t *body = json_pack("{s:I}", "version", version);
    st = cli_request(c, "PUT", path, body, NULL, &resp, &err);
    json_decref(body);
    if (st != 200)
        return cli_fail_request("artifact tag", st, resp, &err);
    printf("%s:%s -> %s@%lld\n", name, argv[2], name, (long long)version);
    json_decref(resp);
    return 0;
}

static int rm(const cli_t *c, int argc, char **argv)
{
    if (argc != 2 || !strpbrk(argv[1], "@:")) {
        fprintf(stderr, "gantry artifact rm: name one version: NAME@N or NAME:ALIAS\n");
        return 2;
    }
    char path[512];
    if (version_path(argv[1], path, sizeof(path)) < 0) {
        fprintf(stderr, "gantry artifact rm: '%s' is not NAME@N or NAME:ALIAS\n", argv[1]);
        return 2;
    }
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, "DELETE", path, NULL, NULL, &resp, &err);
    if (st != 200)
        return cli_fail_request("artifact rm", st, resp, &err);
    if (!strcmp(s_or(resp, "result", ""), "hidden"))
        printf("%s@%lld hidden, not deleted: %s\n", s_or(resp, "name", ""),
               (long long)json_integer_value(json_object_get(resp, "version")),
               s_or(resp, "why", "it is in use"));
    else
        printf("%s@%lld deleted\n", s_or(resp, "name", ""),
               (long long)json_integer_value(json_object_get(resp, "version")));
    json_decref(resp);
    return 0;
}

/* digest PATH [--threads N]: the manifest and digest push would register, computed here. */
static int digest(const cli_t *c, int argc, char **argv)
{
    int threads = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!path)
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    manifest_t *m = NULL;
    gt_error_t err = {0};
    double t0 = gt_monotonic_s();
    if (manifest_of_path(path, threads, &m, &err) < 0) {
        fprintf(stderr, "gantry artifact digest: %s\n", err.msg);
        return 1;
    }
    double dt = gt_monotonic_s() - t0;
    char d[GT_DIGEST_LEN], b[32];
    manifest_digest(m, d);
    if (c->output == CLI_JSON) {
        json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:o}", "digest", d, "files", (json_int_t)m->n,
                              "size", (json_int_t)m->size, "seconds", dt, "manifest",
                              manifest_to_json(m));
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%s %zu files, %s, hashed in %.3f s\n", d, m->n, human(m->size, b, sizeof(b)),
               dt);
    }
    manifest_free(m);
    return 0;
}

/* verify REF: the server hashes a blob-store version's files again. */
static int verify(const cli_t *c, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "%s", HELP);
        return 2;
    }
    char *e = cli_escape(argv[1]);
    char path[512];
    snprintf(path, sizeof(path), "/v1/artifacts/%s/verify", e);
    free(e);
    gt_error_t err = {0};
    json_t *resp = NULL;
    int st = cli_request(c, "POST", path, NULL, NULL, &resp, &err);
    if (st == 202) { /* in place: a node hashes it (cli_lineage.c) */
        int rc = cli_artifact_verify_in_place(c, resp, argc, argv);
        json_decref(resp);
        return rc;
    }
    if (st != 200)
        return cli_fail_request("artifact verify", st, resp, &err);
    if (c->output == CLI_JSON || c->output == CLI_YAML) {
        c->output == CLI_JSON ? cli_print_json(resp) : cli_print_yaml(resp);
    } else if (json_is_true(json_object_get(resp, "verified"))) {
        printf("%s@%lld verified: %lld files match %s\n", s_or(resp, "name", ""),
               (long long)json_integer_value(json_object_get(resp, "version")),
               (long long)json_integer_value(json_object_get(resp, "files")),
               s_or(resp, "digest", ""));
    } else {
        printf("%s@%lld DAMAGED: these files no longer match %s:\n", s_or(resp, "name", ""),
               (long long)json_integer_value(json_object_get(resp, "version")),
               s_or(resp, "digest", ""));
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(resp, "damaged"), i, p)
            printf("  %s\n", json_string_value(p));
    }
    int rc = json_is_true(json_object_get(resp, "verified")) ? 0 : 1;
    json_decref(resp);
    return rc;
}

int cmd_artifact(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "artifact") < 0)
        return 2;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("%s", HELP);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    for (int i = 1; !strcmp(sub, "push") && i < argc; i++)
        if (!strcmp(argv[i], "--in-place"))
            return cli_artifact_push_in_place(&c, argc, argv);
    if (!strcmp(sub, "lineage"))
        return cli_artifact_lineage(&c, argc, argv);
    if (!strcmp(sub, "push"))
        return push(&c, argc, argv);
    if (!strcmp(sub, "pull"))
        return pull(&c, argc, argv);
    if (!strcmp(sub, "ls"))
        return ls(&c, argc, argv);
    if (!strcmp(sub, "show"))
        return show(&c, argc, argv);
    if (!strcmp(sub, "tag"))
        return tag(&c, argc, argv);
    if (!strcmp(sub, "rm"))
        return rm(&c, argc, argv);
    if (!strcmp(sub, "verify"))
        return verify(&c, argc, argv);
    if (!strcmp(sub, "digest"))
        return digest(&c, argc, argv);
    fprintf(stderr, "gantry artifact: unknown command '%s'\n%s", sub, HELP);
    return 2;
}
