#include "server/blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/digest.h"

typedef struct upload {
    blob_upload_t info;
    gt_sha256_t *hash;       /* running digest of the first `hashed` bytes, or NULL */
    uint64_t hashed;
    bool busy;               /* a writer or a commit holds it */
    struct upload *next;
} upload_t;

struct blobs {
    char *dir;               /* DATA/blobs */
    int64_t expiry_s;        /* 0: uploads never expire */
    pthread_mutex_t mu;      /* guards uploads */
    upload_t *uploads;
};

struct blob_writer {
    blobs_t *b;
    upload_t *u;
    int fd;
    uint64_t offset;
    int err_no;
    gt_error_t err;
};

static char *blob_path(const blobs_t *b, const char *hex)
{
    return gt_strfmt("%s/sha256/%s", b->dir, hex);
}

static char *upload_path(const blobs_t *b, const char *id, const char *suffix)
{
    return gt_strfmt("%s/uploads/%s%s", b->dir, id, suffix);
}

static bool id_ok(const char *id)
{
    size_t i = 0;
    for (; id && id[i]; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return id && i == 32;
}

static upload_t *find(blobs_t *b, const char *id)
{
    for (upload_t *u = b->uploads; u; u = u->next)
        if (!strcmp(u->info.id, id))
            return u;
    return NULL;
}

static void upload_free(upload_t *u)
{
    if (u) {
        gt_sha256_free(u->hash);
        free(u);
    }
}

/* The bytes of an upload on disk (its offset). */
static uint64_t on_disk(const blobs_t *b, const char *id)
{
    char *p = upload_path(b, id, "");
    struct stat st;
    uint64_t n = stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
    free(p);
    return n;
}

static void drop(blobs_t *b, upload_t *u);

/* Drops the uploads no byte reached for b->expiry_s (the data file's modification time; the
 * upload's start for one with no bytes yet), except those a writer holds. Caller holds mu. */
static void expire(blobs_t *b)
{
    if (!b->expiry_s)
        return;
    time_t now = time(NULL);
    for (upload_t *u = b->uploads, *next; u; u = next) {
        next = u->next;
        if (u->busy)
            continue;
        char *p = upload_path(b, u->info.id, "");
        struct stat st;
        int64_t last = stat(p, &st) == 0 && st.st_size > 0 ? (int64_t)st.st_mtime
                                                           : u->info.created;
        free(p);
        if ((int64_t)now - last <= b->expiry_s)
            continue;
        fprintf(stderr, "gantry server: upload %s of team %s (sha256 %s, %llu of %llu bytes) "
                        "expired: no byte reached it for %lld s; its bytes are removed.\n",
                u->info.id, u->info.team, u->info.sha256,
                (unsigned long long)on_disk(b, u->info.id), (unsigned long long)u->info.size,
                (long long)(now - last));
        drop(b, u);
    }
}

static int load_upload(blobs_t *b, const char *name)
{
    size_t l = strlen(name);
    if (l != 37 || strcmp(name + 32, ".json"))
        return 0;
    char id[33];
    memcpy(id, name, 32);
    id[32] = '\0';
    if (!id_ok(id))
        return 0;
    char *p = upload_path(b, id, ".json");
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    const char *team = json_string_value(json_object_get(j, "team"));
    const char *user = json_string_value(json_object_get(j, "user"));
    const char *hex = json_string_value(json_object_get(j, "sha256"));
    json_t *size = json_object_get(j, "size");
    if (!team || !user || !gt_sha256_hex_ok(hex) || !json_is_integer(size) ||
        json_integer_value(size) < 0) {
        fprintf(stderr, "gantry server: upload %s in %s/uploads has no valid description; it "
                        "is ignored.\n", id, b->dir);
        json_decref(j);
        return 0;
    }
    upload_t *u = xcalloc(1, sizeof(*u));
    snprintf(u->info.id, sizeof(u->info.id), "%s", id);
    snprintf(u->info.team, sizeof(u->info.team), "%s", team);
    snprintf(u->info.user, sizeof(u->info.user), "%s", user);
    snprintf(u->info.sha256, sizeof(u->info.sha256), "%s", hex);
    u->info.size = (uint64_t)json_integer_value(size);
    u->info.created = (int64_t)json_integer_value(json_object_get(j, "created"));
    u->info.offset = on_disk(b, id);
    u->next = b->uploads;
    b->uploads = u;
    json_decref(j);
    return 0;
}

int blobs_open(const char *data_dir, int64_t expiry_s, blobs_t **out, gt_error_t *err)
{
    blobs_t *b = xcalloc(1, sizeof(*b));
    b->expiry_s = expiry_s > 0 ? expiry_s : 0;
    pthread_mutex_init(&b->mu, NULL);
    b->dir = gt_strfmt("%s/blobs", data_dir);
    static const char *const sub[] = {"", "/sha256", "/uploads"};
    for (size_t i = 0; i < 3; i++) {
        char *p = gt_strfmt("%s%s", b->dir, sub[i]);
        int rc = gt_mkdirs(p, 0700, NULL);
        int e = errno;
        if (rc < 0) {
            gt_error_set(err, "store_error", "cannot create the blob store %s: %s", p,
                         strerror(e));
            free(p);
            blobs_close(b);
            errno = e;
            return -1;
        }
        free(p);
    }
    char *up = gt_strfmt("%s/uploads", b->dir);
    DIR *d = opendir(up);
    free(up);
    for (struct dirent *de; d && (de = readdir(d));)
        load_upload(b, de->d_name);
    if (d)
        closedir(d);
    expire(b);
    *out = b;
    return 0;
}

void blobs_close(blobs_t *b)
{
    if (!b)
        return;
    while (b->uploads) {
        upload_t *n = b->uploads->next;
        upload_free(b->uploads);
        b->uploads = n;
    }
    pthread_mutex_destroy(&b->mu);
    free(b->dir);
    free(b);
}

bool blobs_has(blobs_t *b, const char *hex, uint64_t *size)
{
    if (!gt_sha256_hex_ok(hex))
        return false;
    char *p = blob_path(b, hex);
    struct stat st;
    bool has = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    if (has && size)
        *size = (uint64_t)st.st_size;
    free(p);
    return has;
}

int blobs_open_read(blobs_t *b, const char *hex, uint64_t *size, gt_error_t *err)
{
    if (!gt_sha256_hex_ok(hex)) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "no such blob");
    }
    char *p = blob_path(b, hex);
    int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;
    free(p);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        errno = e;
        return gt_error_set(err, e == ENOENT ? "not_found" : "io_error",
                            "blob sha256:%s cannot be read: %s", hex, strerror(e));
    }
    if (size)
        *size = (uint64_t)st.st_size;
    return fd;
}

int blobs_remove(blobs_t *b, const char *hex)
{
    if (!gt_sha256_hex_ok(hex)) {
        errno = EINVAL;
        return -1;
    }
    char *p = blob_path(b, hex);
    int rc = unlink(p);
    free(p);
    return rc;
}

static int random_id(char id[33])
{
    unsigned char raw[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, raw, sizeof(raw));
    close(fd);
    if (n != (ssize_t)sizeof(raw)) {
        errno = EIO;
        return -1;
    }
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int blobs_upload_start(blobs_t *b, const char *team, const char *user, const char *hex,
                       uint64_t size, blob_upload_t *out, bool *resumed, gt_error_t *err)
{
    if (!gt_sha256_hex_ok(hex))
        return gt_error_invalid(err, "sha256 must be 64 lowercase hex digits");
    pthread_mutex_lock(&b->mu);
    expire(b);
    for (upload_t *u = b->uploads; u; u = u->next)
        if (!strcmp(u->info.team, team) && !strcmp(u->info.sha256, hex) &&
            u->info.size == size) {
            u->info.offset = on_disk(b, u->info.id);
            *out = u->info;
            *resumed = true;
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
    upload_t *u = xcalloc(1, sizeof(*u));
    int rc = -1;
    char *data = NULL, *meta = NULL;
    if (random_id(u->info.id) < 0) {
        gt_error_set(err, "io_error", "cannot read /dev/urandom: %s", strerror(errno));
        goto out;
    }
    snprintf(u->info.team, sizeof(u->info.team), "%s", team);
    snprintf(u->info.user, sizeof(u->info.user), "%s", user);
    snprintf(u->info.sha256, sizeof(u->info.sha256), "%s", hex);
    u->info.size = size;
    u->info.created = (int64_t)time(NULL);
    data = upload_path(b, u->info.id, "");
    meta = upload_path(b, u->info.id, ".json");
    int fd = open(data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        gt_error_set(err, "io_error", "cannot create %s: %s", data, strerror(errno));
        goto out;
    }
    close(fd);
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "team", team, "user", user, "sha256",
                          hex, "size", (json_int_t)size, "created",
                          (json_int_t)u->info.created);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    rc = gt_write_file_atomic(meta, text, strlen(text), 0600, err);
    free(text);
    if (rc < 0) {
        unlink(data);
        goto out;
    }
    *out = u->info;
    *resumed = false;
    u->next = b->uploads;
    b->uploads = u;
    u = NULL;
out:
    if (rc < 0)
        errno = EIO;
    pthread_mutex_unlock(&b->mu);
    upload_free(u);
    free(data);
    free(meta);
    return rc;
}

bool blobs_upload_exists(blobs_t *b, const char *team, const char *hex, uint64_t size)
{
    bool found = false;
    pthread_mutex_lock(&b->mu);
    expire(b);
    for (upload_t *u = b->uploads; u && !found; u = u->next)
        found = !strcmp(u->info.team, team) && !strcmp(u->info.sha256, hex) &&
                u->info.size == size;
    pthread_mutex_unlock(&b->mu);
    return found;
}

int blobs_upload_get(blobs_t *b, const char *id, blob_upload_t *out, gt_error_t *err)
{
    pthread_mutex_lock(&b->mu);
    expire(b);
    upload_t *u = id_ok(id) ? find(b, id) : NULL;
    if (u) { /* the bytes on disk, also while a request is still sending more */
        u->info.offset = on_disk(b, id);
        *out = u->info;
    }
    pthread_mutex_unlock(&b->mu);
    if (!u) {
        errno = ENOENT;
        return gt_error_set(err, "not_found", "no upload %s (finished, cancelled, or never "
                            "started)", id_ok(id) ? id : "with that id");
    }
    return 0;
}

uint64_t blobs_uploads_pending(blobs_t *b, const char *team)
{
    uint64_t n = 0;
    pthread_mutex_lock(&b->mu);
    expire(b);
    for (upload_t *u = b->uploads; u; u = u->next)
        if (!strcmp(u->info.team, team))
            n += u->info.size;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* Unlinks u from the list and deletes its files. Caller holds mu. */
static void drop(blobs_t *b, upload_t *u)
{
    for (upload_t **pp = &b->uploads; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
    char *data = upload_path(b, u->info.id, ""), *meta = upload_path(b, u->info.id, ".json");
    unlink(data);
    unlink(meta);
    free(data);
    free(meta);
    upload_free(u);
}

int blobs_upload_cancel(blobs_t *b, const char *id, gt_error_t *err)
{
    pthread_mutex_lock(&b->mu);
    upload_t *u = id_ok(id) ? find(b, id) : NULL;
    int rc = 0;
    if (!u) {
        errno = ENOENT;
        rc = gt_error_set(err, "not_found", "no such upload");
    } else if (u->busy) {
        errno = EBUSY;
        rc = gt_error_set(err, "conflict", "upload %s is being written", id);
    } else {
        drop(b, u);
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int blobs_write_begin(blobs_t *b, const char *id, uint64_t offset, blob_writer_t **out,
                      gt_error_t *err)
{
    pthread_mutex_lock(&b->mu);
    expire(b);
    upload_t *u = id_ok(id) ? find(b, id) : NULL;
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        errno = ENOENT;
        return gt_error_set(err, "not_found", "no upload %s (finished, cancelled, or never "
                            "started)", id_ok(id) ? id : "with that id");
    }
    if (u->busy) {
        pthread_mutex_unlock(&b->mu);
        errno = EBUSY;
        return gt_error_set(err, "conflict", "upload %s is being written by another request",
                            id);
    }
    uint64_t have = on_disk(b, id);
    if (offset != have) {
        pthread_mutex_unlock(&b->mu);
        errno = ERANGE;
        return gt_error_set(err, "conflict", "upload %s has %llu bytes: send from offset %llu",
                            id, (unsigned long long)have, (unsigned long long)have);
    }
    char *p = upload_path(b, id, "");
    int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;
    free(p);
    if (fd < 0) {
        pthread_mutex_unlock(&b->mu);
        errno = e;
        return gt_error_set(err, "io_error", "cannot open upload %s: %s", id, strerror(e));
    }
    u->busy = true;
    u->info.offset = have;
    pthread_mutex_unlock(&b->mu);
    blob_writer_t *w = xcalloc(1, sizeof(*w));
    *w = (blob_writer_t){.b = b, .u = u, .fd = fd, .offset = offset};
    *out = w;
    return 0;
}

int blobs_write(blob_writer_t *w, const void *data, size_t n, gt_error_t *err)
{
    if (w->err_no) {
        errno = w->err_no;
        return -1;
    }
    upload_t *u = w->u;
    if (w->offset + n > u->info.size) {
        w->err_no = EFBIG;
        gt_error_set(&w->err, "payload_too_large", "upload %s declared %llu bytes; this "
                     "request sends more", u->info.id, (unsigned long long)u->info.size);
        if (err)
            *err = w->err;
        errno = EFBIG;
        return -1;
    }
    const char *p = data;
    size_t left = n;
    uint64_t at = w->offset;
    while (left) {
        ssize_t k = pwrite(w->fd, p, left, (off_t)at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            w->err_no = errno == ENOSPC ? ENOSPC : EIO;
            gt_error_set(&w->err, "io_error", "cannot write upload %s: %s", u->info.id,
                         strerror(errno));
            if (err)
                *err = w->err;
            errno = w->err_no;
            return -1;
        }
        p += k;
        at += (uint64_t)k;
        left -= (size_t)k;
    }
    /* the running digest follows the bytes in order (only this writer touches it) */
    if (u->hash && u->hashed == w->offset) {
        gt_sha256_update(u->hash, data, n);
        u->hashed += n;
    } else if (!u->hash && w->offset == 0) {
        u->hash = gt_sha256_new();
        gt_sha256_update(u->hash, data, n);
        u->hashed = n;
    }
    w->offset = at;
    return 0;
}

int blobs_write_error(const blob_writer_t *w, gt_error_t *err)
{
    if (w->err_no && err)
        *err = w->err;
    return w->err_no;
}

void blobs_write_end(blob_writer_t *w, uint64_t *offset)
{
    if (!w)
        return;
    fdatasync(w->fd);
    close(w->fd);
    blobs_t *b = w->b;
    pthread_mutex_lock(&b->mu);
    w->u->busy = false;
    w->u->info.offset = on_disk(b, w->u->info.id);
    if (offset)
        *offset = w->u->info.offset;
    pthread_mutex_unlock(&b->mu);
    free(w);
}

int blobs_upload_commit(blobs_t *b, const char *id, gt_error_t *err)
{
    pthread_mutex_lock(&b->mu);
    upload_t *u = id_ok(id) ? find(b, id) : NULL;
    if (!u || u->busy) {
        pthread_mutex_unlock(&b->mu);
        errno = u ? EBUSY : ENOENT;
        return gt_error_set(err, u ? "conflict" : "not_found", u ? "upload %s is being "
                            "written by another request" : "no upload %s", id);
    }
    uint64_t have = on_disk(b, id);
    if (have != u->info.size) {
        pthread_mutex_unlock(&b->mu);
        errno = EAGAIN;
        return gt_error_set(err, "incomplete", "upload %s has %llu of its %llu bytes: send the "
                            "rest from offset %llu, then commit", id, (unsigned long long)have,
                            (unsigned long long)u->info.size, (unsigned long long)have);
    }
    u->busy = true;
    pthread_mutex_unlock(&b->mu);

    char *data = upload_path(b, id, "");
    char hex[65];
    int rc = 0;
    if (u->hash && u->hashed == have) {
        gt_sha256_final_hex(u->hash, hex);
    } else {
        /* after a restart (or bytes sent out of order): read them again, from disk */
        int fd = open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || gt_sha256_fd(fd, data, NULL, 0, hex, NULL, err) < 0) {
            if (fd < 0)
                gt_error_set(err, "io_error", "cannot read %s: %s", data, strerror(errno));
            rc = -1;
        }
        if (fd >= 0)
            close(fd);
    }
    char *dst = blob_path(b, u->info.sha256);
    if (rc == 0 && strcmp(hex, u->info.sha256)) {
        gt_error_set(err, "digest_mismatch", "upload %s: its %llu bytes have sha256 %s, not "
                     "the %s declared; it is discarded: send the file again", id,
                     (unsigned long long)have, hex, u->info.sha256);
        errno = EBADMSG;
        rc = -2;
    } else if (rc == 0) {
        int sfd = open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (sfd >= 0) { /* the bytes are durable before the name says they are there */
            fsync(sfd);
            close(sfd);
        }
        if (rename(data, dst) < 0) {
            int e = errno;
            gt_error_set(err, "io_error", "cannot move upload %s into the blob store: %s", id,
                         strerror(e));
            errno = e;
            rc = -1;
        } else {
            char *dir = gt_strfmt("%s/sha256", b->dir);
            gt_fsync_dir(dir);
            free(dir);
        }
    }
    free(dst);
    free(data);
    pthread_mutex_lock(&b->mu);
    u->busy = false;
    if (rc == 0 || rc == -2)
        drop(b, u);
    else if (u->hash) { /* the running digest was finalized: start over from disk next time */
        gt_sha256_free(u->hash);
        u->hash = NULL;
        u->hashed = 0;
    }
    pthread_mutex_unlock(&b->mu);
    return rc < 0 ? -1 : 0;
}
