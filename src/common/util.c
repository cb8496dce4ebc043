#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "gantry: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *gt_xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n, file, line);
    return p;
}

void *gt_xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size, file, line);
    return p;
}

void *gt_xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n, file, line);
    return q;
}

char *gt_xstrdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *p = gt_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

void gt_grow(void **arr, size_t *cap, size_t need, size_t es)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    *arr = xrealloc(*arr, c * es);
    *cap = c;
}

int gt_error_set(gt_error_t *err, const char *code, const char *fmt, ...)
{
    if (err) {
        snprintf(err->code, sizeof(err->code), "%s", code);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int gt_error_invalid(gt_error_t *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)]; /* not err->msg: the arguments may quote it */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", "%s", msg);
}

static int bad(gt_error_t *err, const char *what, const char *s, const char *hint)
{
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", "%s '%s' is not valid: %s", what, s, hint);
}

int gt_parse_duration(const char *s, int64_t *out_s, gt_error_t *err)
{
    const char *hint = "write seconds or a sum of <n>d, <n>h, <n>m, <n>s, such as 90s, 10m, 12h, 7d";
    if (!s || !*s)
        return bad(err, "duration", s ? s : "", hint);
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return bad(err, "duration", s, hint);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0)
            return bad(err, "duration", s, hint);
        int64_t mult = 1;
        switch (*end) {
        case 'd': mult = 86400; end++; break;
        case 'h': mult = 3600; end++; break;
        case 'm': mult = 60; end++; break;
        case 's': mult = 1; end++; break;
        case '\0': if (p != s) return bad(err, "duration", s, hint); break;
        default: return bad(err, "duration", s, hint);
        }
        if (v > INT64_MAX / mult / 4 || total > INT64_MAX / 4)
            return bad(err, "duration", s, "it is too large");
        total += v * mult;
        p = end;
    }
    *out_s = total;
    return 0;
}

int gt_parse_memory_mib(const char *s, int64_t *out_mib, gt_error_t *err)
{
    const char *hint = "write a size such as 512Mi, 256Gi, 1Ti (or a plain number of MiB)";
    if (!s || !*s || !isdigit((unsigned char)*s))
        return bad(err, "memory", s ? s : "", hint);
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* digits and a decimal point only: strtod also reads "0x10" and "1e3" */
    if (errno || v < 0 || end != s + strspn(s, "0123456789."))
        return bad(err, "memory", s, hint);
    double mib;
    if (!strcmp(end, "") || !strcmp(end, "Mi") || !strcmp(end, "M"))
        mib = v;
    else if (!strcmp(end, "Ki") || !strcmp(end, "K"))
        mib = v / 1024;
    else if (!strcmp(end, "Gi") || !strcmp(end, "G"))
        mib = v * 1024;
    else if (!strcmp(end, "Ti") || !strcmp(end, "T"))
        mib = v * 1024 * 1024;
    else
        return bad(err, "memory", s, hint);
    if (mib > 1e15)
        return bad(err, "memory", s, "it is too large");
    *out_mib = (int64_t)(mib + 0.5);
    return 0;
}

static int parse_milli(const char *s, int64_t *out, gt_error_t *err, const char *what,
                       const char *hint)
{
    if (!s || !*s)
        return bad(err, what, s ? s : "", hint);
    const char *p = s;
    int64_t whole = 0, frac = 0, scale = 1000;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return bad(err, what, s, hint);
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p++ - '0');
        if (whole > 100000000)
            return bad(err, what, s, "it is too large");
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return bad(err, what, s, hint);
        while (isdigit((unsigned char)*p)) {
            scale /= 10;
            if (scale == 0)
                return bad(err, what, s, "use at most three decimals");
            frac += (*p++ - '0') * scale;
        }
    }
    if (*p == 'm' && p[1] == '\0' && !strcmp(what, "cpus") && scale == 1000) {
        *out = whole; /* "1500m" is already milli */
        return 0;
    }
    if (*p)
        return bad(err, what, s, hint);
    *out = whole * 1000 + frac;
    return 0;
}

int gt_parse_gpus_milli(const char *s, int64_t *out_milli, gt_error_t *err)
{
    const char *hint = "write a whole number of GPUs (8), a fraction of one GPU (0.25), or 0 "
                       "for a CPU-only job";
    int64_t m;
    if (parse_milli(s, &m, err, "gpus", hint) < 0)
        return -1;
    if (m < 0 || (m > 1000 && m % 1000))
        return bad(err, "gpus", s, hint);
    *out_milli = m;
    return 0;
}

int gt_parse_cpus_milli(const char *s, int64_t *out_milli, gt_error_t *err)
{
    return parse_milli(s, out_milli, err, "cpus", "write CPUs such as 32, 0.5 or 1500m");
}

int gt_parse_bytes(const char *s, int64_t *out, gt_error_t *err)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30}, {"Ti", 1LL << 40},
                 {"K", 1000LL}, {"M", 1000000LL}, {"G", 1000000000LL},
                 {"T", 1000000000000LL}, {"", 1}};
    char *end = NULL;
    errno = 0;
    long long v = s && *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : -1;
    if (v >= 0 && !errno && end)
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (!strcmp(end, units[i].suffix)) {
                if (v > (1LL << 62) / units[i].mult)
                    break;
                *out = v * units[i].mult;
                return 0;
            }
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument", "'%s' is not an amount of bytes (such as "
                        "1048576, 500Gi, 64Mi, 2T)", s ? s : "");
}

int gt_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out, gt_error_t *err)
{
    if (!s || !*s)
        return bad(err, "number", s ? s : "", "expected an integer");
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument",
                            "'%s' is not an integer between %lld and %lld", s, (long long)min,
                            (long long)max);
    }
    *out = v;
    return 0;
}

const char *gt_format_duration(int64_t s, char *buf, size_t len)
{
    if (s < 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    int64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, sec = s % 60;
    if (d)
        snprintf(buf, len, "%lldd%lldh", (long long)d, (long long)h);
    else if (h)
        snprintf(buf, len, "%lldh%lldm", (long long)h, (long long)m);
    else if (m)
        snprintf(buf, len, "%lldm%llds", (long long)m, (long long)sec);
    else
        snprintf(buf, len, "%llds", (long long)sec);
    return buf;
}

char *gt_read_file(const char *path, size_t *len, gt_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        gt_error_set(err, e == ENOENT ? "not_found" : "io_error", "cannot read %s: %s", path,
                     strerror(e));
        errno = e;
        return NULL;
    }
    gt_buf_t b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        gt_buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        gt_buf_free(&b);
        gt_error_set(err, "io_error", "cannot read %s: read error", path);
        errno = EIO;
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data ? b.data : xstrdup("");
}

double gt_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void gt_reap_within(pid_t pid, double timeout_s)
{
    for (double until = gt_monotonic_s() + timeout_s;;) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return; /* reaped, or not our child any more */
        if (gt_monotonic_s() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* A decimal number up to 2147483647 at *p (no sign), *p moved past it. */
static int ref_number(const char **p, int64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++)
        if ((v = v * 10 + (*s - '0')) > 2147483647)
            return -1;
    *p = s;
    *out = v;
    return 0;
}

int gt_job_ref_parse(const char *s, uint64_t *id, int64_t *index)
{
    int64_t a, b = -1;
    const char *p = s;
    if (!s || *s == '0' || ref_number(&p, &a) < 0)
        goto bad;
    if (*p == '_') {
        p++;
        if (ref_number(&p, &b) < 0)
            goto bad;
    }
    if (*p)
        goto bad;
    *id = (uint64_t)a;
    *index = b;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

void gt_buf_vprintf(gt_buf_t *b, const char *fmt, va_list ap)
{
    /* Into the room left first: one vsnprintf for the usual short write. */
    va_list ap2;
    va_copy(ap2, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if ((size_t)n >= room) {
        GT_GROW(b->data, b->cap, b->len + (size_t)n + 1);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
}

void gt_buf_printf(gt_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gt_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void gt_buf_append(gt_buf_t *b, const char *s, size_t n)
{
    GT_GROW(b->data, b->cap, b->len + n + 1);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void gt_buf_json_string(gt_buf_t *b, const char *s)
{
    gt_buf_append(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c && c != '"' && c != '\\' && c >= 0x20)
            continue;
        gt_buf_append(b, run, (size_t)(s - run));
        if (!c)
            break;
        if (c == '"' || c == '\\')
            gt_buf_printf(b, "\\%c", c);
        else
            gt_buf_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    gt_buf_append(b, "\"", 1);
}

void gt_buf_int(gt_buf_t *b, long long v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    gt_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void gt_buf_free(gt_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *gt_strfmt(const char *fmt, ...)
{
    gt_buf_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    gt_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return b.data;
}

int gt_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int gt_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         gt_error_t *err)
{
    gt_buf_t tmp = {0}, dir = {0};
    gt_buf_printf(&tmp, "%s.tmp", path);
    const char *slash = strrchr(path, '/');
    if (!slash)
        gt_buf_append(&dir, ".", 1);
    else
        gt_buf_append(&dir, path, slash == path ? 1 : (size_t)(slash - path));
    int e = 0, fd = -1;
    bool placed = false;
    if (unlink(tmp.data) < 0 && errno != ENOENT)
        e = errno; /* a stale one that cannot go: not ours to touch further */
    if (!e && (fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                         mode & 07777)) < 0)
        e = errno;
    size_t off = 0;
    while (!e && off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
    }
    if (!e && (fchmod(fd, mode & 07777) < 0 || fsync(fd) < 0))
        e = errno;
    if (fd >= 0 && close(fd) < 0 && !e)
        e = errno;
    if (!e && rename(tmp.data, path) < 0)
        e = errno;
    if (!e) {
        placed = true;
        if (gt_fsync_dir(dir.data) < 0)
            e = errno;
    }
    if (e && !placed && fd >= 0)
        unlink(tmp.data); /* ours: created with O_EXCL */
    gt_buf_free(&tmp);
    gt_buf_free(&dir);
    if (!e)
        return 0;
    gt_error_set(err, "io_error", "cannot write %s: %s%s", path, strerror(e),
                 placed ? " (the new file is in place, maybe not durably)" : "");
    errno = e;
    return -1;
}

int gt_tighten_mode(const char *path, bool is_dir, unsigned mode, unsigned *old,
                    gt_error_t *err)
{
    struct stat sb;
    if (lstat(path, &sb) < 0) {
        if (errno == ENOENT)
            return 0;
        return gt_error_set(err, "internal", "cannot stat %s: %s", path, strerror(errno));
    }
    if (is_dir ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "%s is not a %s", path,
                            is_dir ? "directory" : "regular file");
    }
    unsigned bits = (unsigned)sb.st_mode & 07777;
    if ((bits & ~mode) == 0)
        return 0;
    if (chmod(path, (mode_t)mode) < 0)
        return gt_error_set(err, "internal", "%s has mode %04o and cannot be set to %04o: %s",
                            path, bits, mode, strerror(errno));
    if (old)
        *old = bits;
    return 1;
}

int gt_mkdirs(const char *path, unsigned mode, bool *made)
{
    if (made)
        *made = false;
    if (mkdir(path, (mode_t)mode) == 0) {
        if (made)
            *made = true;
        return 0;
    }
    if (errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == '\0') { /* "a/b/" */
        *slash = '\0';
        slash = strrchr(parent, '/');
    }
    int rc = -1;
    if (slash && slash > parent) {
        *slash = '\0';
        rc = gt_mkdirs(parent, 0755, NULL);
    }
    free(parent);
    if (rc < 0) {
        if (!slash || slash == parent)
            errno = ENOENT;
        return -1;
    }
    if (mkdir(path, (mode_t)mode) == 0) {
        if (made)
            *made = true;
        return 0;
    }
    return errno == EEXIST ? 0 : -1;
}

bool gt_unix_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int gt_node_name_check(const char *name, gt_error_t *err)
{
    size_t n = name ? strlen(name) : 0;
    bool okay = n >= 1 && n <= 63;
    for (size_t i = 0; okay && i < n; i++) {
        char c = name[i];
        okay = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    }
    if (okay)
        return 0;
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "the node name is not valid: use 1 to 63 characters of A-Z, a-z, 0-9, "
                        "'.', '_' and '-'");
}

int gt_label_check(const char *what, const char *s, size_t max, gt_error_t *err)
{
    size_t n = s ? strlen(s) : 0;
    bool okay = n >= 1 && n <= max;
    for (size_t i = 0; okay && i < n; i++)
        okay = s[i] > ' ' && s[i] <= '~';
    if (okay)
        return 0;
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "%s is not valid: use 1 to %zu printable characters without spaces",
                        what, max);
}
