/* blobs.h: the artifact blob store under the server's data directory.
 *
 *   DATA/blobs/sha256/<hex>          a file's bytes, named by their SHA-256 (content-addressed:
 *                                    the same file in two versions is kept once)
 *   DATA/blobs/uploads/<id>          an upload in progress: the bytes received so far
 *   DATA/blobs/uploads/<id>.json     its team, user, expected sha256 and size
 *
 * An upload is streamed to its file as the request body arrives, never held whole in memory;
 * it is resumable: a client asks the offset (the bytes on disk) and sends the rest, in as many
 * requests as it likes, and a server restart keeps it. Committing checks the size and the
 * SHA-256 of the whole file (computed as the bytes arrive, or read again after a restart)
 * before it takes its place under sha256/; a mismatch discards the upload. Files and
 * directories are 0600/0700 (the server's own). Safe to use from many threads. */
#ifndef GANTRY_BLOBS_H
#define GANTRY_BLOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

typedef struct blobs blobs_t;

typedef struct blob_upload {
    char id[33];             /* 32 random hex digits */
    char team[64], user[64]; /* whose it is (only they may write or commit it) */
    char sha256[65];         /* the digest the bytes must have */
    uint64_t size;           /* the size they must have */
    uint64_t offset;         /* bytes received so far */
    int64_t created;         /* epoch seconds */
} blob_upload_t;

/* An unfinished upload that no byte reached for this long is dropped (the default of
 * --upload-expiry): its bytes stop counting against its team's quota. */
#define BLOBS_UPLOAD_EXPIRY_S (24 * 3600)

/* Opens (creating) DATA/blobs and loads the uploads left in progress. expiry_s: an unfinished
 * upload whose bytes last changed (or, with none, that was started) more than expiry_s ago is
 * dropped, with its bytes, whenever uploads are looked at (its start, offset, writes, a team's
 * pending bytes; 0: never); one a writer holds is not. 0, or -1 with err. */
int blobs_open(const char *data_dir, int64_t expiry_s, blobs_t **out, gt_error_t *err);
/* Accepts NULL. No writer may be active. */
void blobs_close(blobs_t *b);

/* Whether blob hex is stored; its size in *size (may be NULL). */
bool blobs_has(blobs_t *b, const char *hex, uint64_t *size);
/* A descriptor to read blob hex from (the caller closes it), its size in *size. -1 with errno
 * ENOENT and err ("not_found") when it is not stored. */
int blobs_open_read(blobs_t *b, const char *hex, uint64_t *size, gt_error_t *err);
/* Deletes blob hex (no version refers to it any more). 0, or -1 with errno. */
int blobs_remove(blobs_t *b, const char *hex);

/* Starts an upload of size bytes that must hash to hex, for team and user; an unfinished
 * upload of the same digest by the same team is resumed instead (*resumed true, out->offset
 * its bytes so far). 0, or -1 with err (EINVAL: hex malformed; EIO). */
int blobs_upload_start(blobs_t *b, const char *team, const char *user, const char *hex,
                       uint64_t size, blob_upload_t *out, bool *resumed, gt_error_t *err);
/* Whether team has an unfinished upload of hex (size bytes): blobs_upload_start would resume
 * it (its bytes already count in blobs_uploads_pending). */
bool blobs_upload_exists(blobs_t *b, const char *team, const char *hex, uint64_t size);
/* The upload with this id. -1 with errno ENOENT and err ("not_found") when none. */
int blobs_upload_get(blobs_t *b, const char *id, blob_upload_t *out, gt_error_t *err);
/* Bytes that team's unfinished uploads will occupy (their declared sizes): counted against
 * its quota until they are committed or cancelled. */
uint64_t blobs_uploads_pending(blobs_t *b, const char *team);
/* Drops an upload and its bytes. -1 (ENOENT) when none; EBUSY while a writer has it. */
int blobs_upload_cancel(blobs_t *b, const char *id, gt_error_t *err);

/* One request's bytes appended to an upload. begin: offset must equal the bytes received so
 * far (-1 with errno ERANGE and err "conflict" naming the right one otherwise); one writer per
 * upload at a time (EBUSY). write: appends n bytes (-1 EFBIG "payload_too_large" past the
 * declared size; EIO on a write error; the writer then ignores the rest). end: closes the
 * writer (also after an error or a cut connection: what was written stays) and gives the new
 * offset; accepts NULL. */
typedef struct blob_writer blob_writer_t;
int blobs_write_begin(blobs_t *b, const char *id, uint64_t offset, blob_writer_t **out,
                      gt_error_t *err);
int blobs_write(blob_writer_t *w, const void *data, size_t n, gt_error_t *err);
/* The first error a write met (0: none), and its message. */
int blobs_write_error(const blob_writer_t *w, gt_error_t *err);
void blobs_write_end(blob_writer_t *w, uint64_t *offset);

/* Commits a whole upload: every byte in (offset == size), and their SHA-256 the declared one;
 * the blob then takes its place (an existing identical blob is kept) and the upload is gone.
 * -1 with err: ENOENT not_found; EBUSY a writer has it; EAGAIN "incomplete" (bytes missing,
 * the upload kept); EBADMSG "digest_mismatch" (the upload is discarded: send it again). */
int blobs_upload_commit(blobs_t *b, const char *id, gt_error_t *err);

#endif
