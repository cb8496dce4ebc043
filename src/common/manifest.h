/* manifest.h: the manifest of an artifact version, and the version's content digest.
 *
 * A manifest lists every regular file and symbolic link under a directory (or one file):
 * {path, size, sha256}, sorted by path (byte order). Paths are relative, '/'-separated UTF-8
 * without ".", ".." or empty components, without control characters. A symbolic link is
 * recorded, never followed: its entry carries "link" (the target as written), its size is the
 * target's length and its sha256 the target text's digest. Directories are not entries (an
 * empty directory is not kept). FIFOs, sockets and devices are refused: an artifact is data.
 *
 * The version digest is "sha256:" + SHA-256 of the canonical manifest JSON: an array of the
 * entries in path order, each an object with its keys sorted ("link" when a link, "path",
 * "sha256", "size"), no whitespace, strings escaped as RFC 8785 (JCS) does (", \ and control
 * characters only; UTF-8 as is), sizes as plain integers. Anyone can recompute it:
 *   [{"path":"a.txt","sha256":"<64 hex>","size":3},{"link":"a.txt","path":"b","sha256":...}]
 * The same files give the same digest on any machine, whatever their order on disk, their
 * times, owners or modes. */
#ifndef GANTRY_MANIFEST_H
#define GANTRY_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/util.h"

typedef struct manifest_entry {
    char *path;        /* relative path (see above) */
    uint64_t size;     /* bytes of a file, or the length of a link's target */
    char sha256[65];   /* of the file's bytes, or of the link's target text */
    char *link;        /* a symbolic link's target (never followed), or NULL for a file */
} manifest_entry_t;

typedef struct manifest {
    manifest_entry_t *entries; /* sorted by path once built by manifest_of_path/_from_json */
    size_t n, cap;
    uint64_t size;             /* sum of the files' sizes (links count 0) */
} manifest_t;

/* An empty manifest (free with manifest_free). */
manifest_t *manifest_new(void);
/* Accepts NULL. */
void manifest_free(manifest_t *m);

/* Appends an entry (copies path and link; link NULL for a file). The manifest is unsorted
 * until manifest_finish. */
void manifest_add(manifest_t *m, const char *path, uint64_t size, const char hex[65],
                  const char *link);

/* Sorts the entries by path and checks them: every path well formed (manifest_path_ok), no
 * path twice, no entry that is a parent directory of another ("a" and "a/b"), every sha256
 * 64 lowercase hex digits. Recomputes m->size. 0, or -1 with errno EINVAL and err naming the
 * first offending path. */
int manifest_finish(manifest_t *m, gt_error_t *err);

/* Whether p is a well-formed entry path (see above; at most 4096 bytes). */
bool manifest_path_ok(const char *p);

/* Builds the manifest of path: a directory's whole tree, or a regular file as one entry named
 * by its last component. path itself is followed if a link; nothing under it is. Files are
 * hashed by threads workers (0: the online CPUs, at most 8), each opened without following a
 * link anywhere beneath path (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the kernel has
 * it), so a tree changed while it is hashed fails rather than reads outside it. *out is a new
 * manifest (manifest_free), sorted and checked. -1 with errno and err:
 *   EINVAL "invalid_argument" a FIFO, socket or device in the tree, a name that is not UTF-8
 *          or has control characters ("PATH: why");
 *   EAGAIN "changed"  a file whose size or time changed while it was read;
 *   others "io_error" as the system said (ENOENT, EACCES, ELOOP, ...), naming the path. */
int manifest_of_path(const char *path, int threads, manifest_t **out, gt_error_t *err);

/* The canonical JSON text (see above) as a new NUL-terminated string (free it); *len (if not
 * NULL) its length. m must be finished. */
char *manifest_canonical(const manifest_t *m, size_t *len);
/* The version digest, "sha256:<hex>", into out. m must be finished. */
void manifest_digest(const manifest_t *m, char out[GT_DIGEST_LEN]);

/* The manifest as a JSON array of {path, size, sha256[, link]} (a new reference). */
json_t *manifest_to_json(const manifest_t *m);
/* Parses such an array (from an API body or the store), then manifest_finish. -1 with errno
 * EINVAL and err ("invalid_argument", naming the entry) on anything else; at most max_entries
 * entries (0: no limit). */
int manifest_from_json(const json_t *j, size_t max_entries, manifest_t **out, gt_error_t *err);

/* Compares two finished manifests (want: as registered, got: as found now). Returns the
 * number of paths that differ (added, removed, or changed in size, digest or link target) and,
 * when report is not NULL, appends one line per difference, at most max_lines of them
 * ("changed PATH", "missing PATH", "added PATH"), then "... and N more". */
size_t manifest_compare(const manifest_t *want, const manifest_t *got, gt_buf_t *report,
                        size_t max_lines);

#endif
