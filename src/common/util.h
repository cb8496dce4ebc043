/* util.h: the one allocation layer, the error struct, and parsers of the units users write.
 *
 * Allocation failure is fatal (file:line on stderr, abort): callers never check xmalloc.
 * Parsers return 0 on success and -1 on bad input with errno = EINVAL and a message in err. */
#ifndef GANTRY_UTIL_H
#define GANTRY_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void *gt_xmalloc_at(size_t n, const char *file, int line);
void *gt_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *gt_xrealloc_at(void *p, size_t n, const char *file, int line);
char *gt_xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(n) gt_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) gt_xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) gt_xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) gt_xstrdup_at((s), __FILE__, __LINE__)

/* Grow *arr (element size es) so that it holds at least need elements; *cap is updated.
 * GT_GROW calls it only when the array is too small (a statement; need is evaluated twice): the
 * scheduler's passes ask on every run and entry. */
void gt_grow(void **arr, size_t *cap, size_t need, size_t es);
#define GT_GROW(arr, cap, need)                                                                    \
    do {                                                                                           \
        if ((size_t)(need) > (cap))                                                                \
            gt_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)));                              \
    } while (0)

/* A human-readable error travelling up to the user. code is a short machine word
 * ("invalid_argument", "not_found", ...); msg says what was wrong and what to do. */
typedef struct gt_error {
    char code[32];
    char msg[1024];
} gt_error_t;

/* Fill err (if not NULL) and return -1; errno is left as the caller set it. */
int gt_error_set(gt_error_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Refusal of bad input: fills err (if not NULL) with code "invalid_argument" and the message
 * (which may quote err->msg itself), sets errno = EINVAL, and returns -1. */
int gt_error_invalid(gt_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "90", "90s", "10m", "12h", "7d", "1h30m" -> seconds. */
int gt_parse_duration(const char *s, int64_t *out_s, gt_error_t *err);
/* "256Gi", "512Mi", "1Ti", "1024" (MiB), "64G", "500M" -> MiB. */
int gt_parse_memory_mib(const char *s, int64_t *out_mib, gt_error_t *err);
/* "2", "0.25", "16", "0" -> milli-GPUs (2000, 250, 16000, 0). Whole counts, a fraction below
 * one, or 0 (a CPU-only job). */
int gt_parse_gpus_milli(const char *s, int64_t *out_milli, gt_error_t *err);
/* "32", "0.5", "1500m" -> milli-CPUs. */
int gt_parse_cpus_milli(const char *s, int64_t *out_milli, gt_error_t *err);
/* "1048576" (bytes), "500Ki", "64Mi", "500Gi", "2Ti" (powers of 1024), "500K", "64M", "2G",
 * "1T" (powers of 1000) -> bytes (0 to 2^62). */
int gt_parse_bytes(const char *s, int64_t *out, gt_error_t *err);
/* Strict base-10 integer with range check. */
int gt_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out, gt_error_t *err);
/* A job reference: "N" (a job, N > 0) or "N_M" (array N's task with index M >= 0), plain
 * decimal numbers up to 2147483647 without sign, space or leading zero (M may be "0"). *index
 * = -1 for "N". 0, or -1 (EINVAL). The server and the CLI read references with it. */
int gt_job_ref_parse(const char *s, uint64_t *id, int64_t *index);

/* Reads a whole file into a new NUL-terminated string (free it); *len (if len is not NULL)
 * gets its length.
 * NULL with errno (ENOENT, EACCES, EIO, ...) and "cannot read PATH: why" in err. */
char *gt_read_file(const char *path, size_t *len, gt_error_t *err);

/* mkdir -p: the last component with mode, missing parents with 0755. *made (may be NULL) says
 * whether this call created the last one; an existing one is not an error. Tries the whole
 * path first, so a directory whose parent is there costs one mkdir. -1 with errno. */
int gt_mkdirs(const char *path, unsigned mode, bool *made);

/* Permission check at start: when path exists with permission bits outside mode (e.g. 0644
 * for a file that must be 0600), sets it to mode and returns 1 with the old bits in *old; 0
 * when it is absent or already tight. -1 with errno and err when it is not of the expected
 * type (a directory when is_dir, else a regular file; links are refused) or chmod fails. */
int gt_tighten_mode(const char *path, bool is_dir, unsigned mode, unsigned *old,
                    gt_error_t *err);

/* fsync of directory dir, so that a rename or create in it is durable. 0, or -1 with errno. */
int gt_fsync_dir(const char *dir);

/* Replaces path with the len bytes at data, so that a reader or a crash sees the old file or
 * the new one whole, never a part: written to <path>.tmp (a stale one is removed first; created
 * with O_EXCL and O_NOFOLLOW), mode set exactly (umask aside), fsync'd, renamed over path, and
 * the directory fsync'd. path may be a symlink: the link itself is replaced. One writer per
 * path at a time. 0, or -1 with errno and err ("io_error", "cannot write PATH: ..."); on an
 * error no temporary file is left, and path is untouched unless only the directory's fsync
 * failed (then the new file is in place, maybe not durably). */
int gt_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         gt_error_t *err);

/* Seconds as the shortest of "45s", "10m", "3h20m", "2d4h". buf must hold 32 bytes. */
const char *gt_format_duration(int64_t s, char *buf, size_t len);

/* Monotonic clock in seconds, for measurements by drivers (never inside src/sched). */
double gt_monotonic_s(void);

/* Reaps the child pid, waiting at most timeout_s for it to exit (then SIGKILL, and waits).
 * Returns at once when pid is not (or no longer) this process's child. */
void gt_reap_within(pid_t pid, double timeout_s);

/* A portable POSIX account name: [A-Za-z0-9._-], not starting with '-', 1 to 32 bytes (the
 * configuration's users: and PUT /v1/users both require it). false for NULL. */
bool gt_unix_name_ok(const char *s);
/* A node name: 1 to 63 characters of [A-Za-z0-9._-] (it names a cgroup, a log line, a row of
 * `gantry nodes`). 0, or -1 (EINVAL) with a message in err. */
int gt_node_name_check(const char *name, gt_error_t *err);
/* A word a node reports (GPU type, topology label, address): 1 to max printable ASCII
 * characters without spaces. what names it in the message. 0, or -1 (EINVAL) with err. */
int gt_label_check(const char *what, const char *s, size_t max, gt_error_t *err);

/* Growable string buffer. */
typedef struct gt_buf {
    char *data;
    size_t len, cap;
} gt_buf_t;
void gt_buf_printf(gt_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gt_buf_vprintf(gt_buf_t *b, const char *fmt, va_list ap);
void gt_buf_append(gt_buf_t *b, const char *s, size_t n);
/* Appends s (UTF-8) as a JSON string: quoted, with '"', '\\' and control characters escaped. */
void gt_buf_json_string(gt_buf_t *b, const char *s);
/* Appends v in decimal (as "%lld" would, without printf's cost: for large documents written
 * a number at a time, such as the dashboard's GPU map). */
void gt_buf_int(gt_buf_t *b, long long v);
void gt_buf_free(gt_buf_t *b);

/* printf into a new string (free it); "" for an empty result. Allocation failure is fatal;
 * NULL only when vsnprintf fails (an encoding error). */
char *gt_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
