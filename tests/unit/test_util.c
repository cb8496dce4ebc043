#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "tap.h"

int main(void)
{
    int64_t v;
    gt_error_t err = {0};
    ok(gt_parse_duration("90", &v, &err) == 0 && v == 90, "plain seconds");
    ok(gt_parse_duration("12h", &v, &err) == 0 && v == 43200, "hours");
    ok(gt_parse_duration("1h30m", &v, &err) == 0 && v == 5400, "sum of units");
    ok(gt_parse_duration("7d", &v, &err) == 0 && v == 604800, "days");
    errno = 0;
    ok(gt_parse_duration("12x", &v, &err) == -1 && errno == EINVAL, "bad unit rejected");
    ok(strstr(err.msg, "12x") != NULL, "message names the bad value: %s", err.msg);
    ok(gt_parse_duration("-5s", &v, &err) == -1, "negative rejected");
    ok(gt_parse_duration("", &v, &err) == -1, "empty rejected");

    ok(gt_parse_memory_mib("256Gi", &v, &err) == 0 && v == 262144, "Gi");
    ok(gt_parse_memory_mib("512Mi", &v, &err) == 0 && v == 512, "Mi");
    ok(gt_parse_memory_mib("1024", &v, &err) == 0 && v == 1024, "plain MiB");
    ok(gt_parse_memory_mib("1Ti", &v, &err) == 0 && v == 1048576, "Ti");
    ok(gt_parse_memory_mib("12Qi", &v, &err) == -1 && errno == EINVAL, "bad unit");
    errno = 0;
    ok(gt_parse_memory_mib("0x10", &v, &err) == -1 && errno == EINVAL, "hex refused");
    ok(gt_parse_memory_mib("1e3Gi", &v, &err) == -1, "exponent refused");
    ok(gt_parse_memory_mib("1.5Gi", &v, &err) == 0 && v == 1536, "a decimal size");

    ok(gt_parse_gpus_milli("8", &v, &err) == 0 && v == 8000, "whole GPUs");
    ok(gt_parse_gpus_milli("0.25", &v, &err) == 0 && v == 250, "fraction of a GPU");
    ok(gt_parse_gpus_milli("1.5", &v, &err) == -1, "1.5 GPUs rejected");
    ok(gt_parse_gpus_milli("0", &v, &err) == 0 && v == 0, "zero GPUs: a CPU-only job");
    ok(gt_parse_gpus_milli("-1", &v, &err) == -1, "negative GPUs rejected");
    ok(gt_parse_gpus_milli("0.0001", &v, &err) == -1, "too fine a fraction rejected");
    ok(gt_parse_cpus_milli("1500m", &v, &err) == 0 && v == 1500, "milli CPUs");
    ok(gt_parse_cpus_milli("0.5", &v, &err) == 0 && v == 500, "half a CPU");
    errno = 0;
    ok(gt_parse_cpus_milli("1.5m", &v, &err) == -1 && errno == EINVAL,
       "a fraction of a milli-CPU refused");
    ok(gt_parse_int64("42", 0, 100, &v, &err) == 0 && v == 42, "int in range");
    ok(gt_parse_int64("420", 0, 100, &v, &err) == -1, "int out of range");

    char buf[32];
    is_str(gt_format_duration(5400, buf, sizeof(buf)), "1h30m", "format hours");
    is_str(gt_format_duration(45, buf, sizeof(buf)), "45s", "format seconds");

    gt_buf_t b = {0};
    gt_buf_printf(&b, "%d-%s", 7, "x");
    gt_buf_append(&b, "yz", 2);
    is_str(b.data, "7-xyz", "buffer printf and append");
    for (int i = 0; i < 200; i++) /* past the buffer's room many times: each write whole */
        gt_buf_printf(&b, "<%03d>", i);
    ok(b.len == 5 + 200 * 5 && !strncmp(b.data + 5, "<000><001>", 10) &&
           !strcmp(b.data + b.len - 5, "<199>") && strlen(b.data) == b.len,
       "buffer printf grows past its room and stays terminated");
    gt_buf_free(&b);
    gt_buf_json_string(&b, "a\"b\\c\n\x01\xc3\xa9");
    is_str(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"",
           "json string: quote, backslash and control characters escaped, UTF-8 kept");
    json_t *back = json_loads(b.data, JSON_DECODE_ANY, NULL);
    ok(back && !strcmp(json_string_value(back), "a\"b\\c\n\x01\xc3\xa9"),
       "json string: a JSON parser reads back the same string");
    json_decref(back);
    gt_buf_free(&b);
    const long long ints[] = {0, 7, -7, 10, 4096, -1000000007LL, 9223372036854775807LL,
                              -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", ints[i]);
        gt_buf_int(&b, ints[i]);
        is_str(b.data, want, "gt_buf_int writes %s as %%lld does", want);
        gt_buf_free(&b);
    }

    char *s = gt_strfmt("%s/jobs/%d.%d", "/var/lib/gantry", 42, 1);
    is_str(s, "/var/lib/gantry/jobs/42.1", "strfmt formats into a new string");
    free(s);
    s = gt_strfmt("%s", "");
    is_str(s, "", "strfmt of an empty result is \"\", not NULL");
    free(s);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = gt_strfmt("<%s>", big);
    is_int(s ? strlen(s) : 0, sizeof(big) + 1, "strfmt is not cut at any buffer size");
    free(s);

    gt_error_t inv = {0};
    errno = 0;
    is_int(gt_error_invalid(&inv, "'%s' must be at most %d", "gpus", 8), -1, "invalid: -1");
    is_int(errno, EINVAL, "invalid: errno EINVAL");
    is_str(inv.code, "invalid_argument", "invalid: code invalid_argument");
    is_str(inv.msg, "'gpus' must be at most 8", "invalid: the formatted message");
    gt_error_invalid(&inv, "mounts[0]: %s", inv.msg);
    is_str(inv.msg, "mounts[0]: 'gpus' must be at most 8", "invalid: may quote err->msg itself");
    errno = 0;
    is_int(gt_error_invalid(NULL, "%s", "x"), -1, "invalid without err: -1");
    is_int(errno, EINVAL, "invalid without err: errno EINVAL");

    char root[] = "/tmp/gantry-util-XXXXXX", p[256];
    if (mkdtemp(root)) {
        bool made = false;
        snprintf(p, sizeof(p), "%s/a/b/c", root);
        ok(gt_mkdirs(p, 0700, &made) == 0 && made, "mkdirs makes missing parents and the last");
        struct stat sb;
        ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0700, "the last one with its mode");
        snprintf(p, sizeof(p), "%s/a/b", root);
        ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0755, "parents 0755");
        snprintf(p, sizeof(p), "%s/a/b/c", root);
        ok(gt_mkdirs(p, 0700, &made) == 0 && !made, "an existing directory: 0, not made");
        snprintf(p, sizeof(p), "%s/a/b/c/", root);
        ok(gt_mkdirs(p, 0700, &made) == 0 && !made, "a trailing slash is fine");
        snprintf(p, sizeof(p), "%s/file", root);
        FILE *f = fopen(p, "w");
        if (f)
            fclose(f);
        snprintf(p, sizeof(p), "%s/file/sub", root);
        errno = 0;
        ok(gt_mkdirs(p, 0755, NULL) == -1 && errno == ENOTDIR, "below a file: ENOTDIR");
        snprintf(p, sizeof(p), "rm -rf %s", root);
        if (system(p) != 0)
            ok(0, "cleanup");
    }
    {
        gt_error_t e = {0};
        is_int(gt_node_name_check("gpu-001.rack_2-A", &e), 0, "node name of [A-Za-z0-9._-]");
        char n63[64], n64[65];
        memset(n63, 'a', 63);
        n63[63] = '\0';
        memset(n64, 'a', 64);
        n64[64] = '\0';
        is_int(gt_node_name_check(n63, &e), 0, "63 characters");
        errno = 0;
        is_int(gt_node_name_check(n64, &e), -1, "64 characters refused");
        is_int(errno, EINVAL, "EINVAL");
        is_int(gt_node_name_check("", &e), -1, "empty refused");
        is_int(gt_node_name_check(NULL, &e), -1, "NULL refused");
        is_int(gt_node_name_check("evil\nnode", &e), -1, "newline refused");
        is_int(gt_node_name_check("a b", &e), -1, "space refused");
        is_int(gt_node_name_check("a/b", &e), -1, "slash refused (a cgroup path)");
        is_int(gt_node_name_check("\xc3\xa9", &e), -1, "non-ASCII refused");
        is_int(gt_label_check("gpu_type", "H100-80GB-HBM3", 63, &e), 0, "a GPU type word");
        is_int(gt_label_check("gpu_type", "H100 80GB", 63, &e), -1, "a space refused");
        is_int(gt_label_check("gpu_type", "H100\r", 63, &e), -1, "a control character refused");
        is_int(gt_label_check("x", "abcd", 3, &e), -1, "longer than max refused");
        is_int(gt_label_check("x", NULL, 3, &e), -1, "NULL refused");
    }
    {
        /* gt_write_file_atomic: whole old or whole new file, exact mode, nothing left over. */
        char dir[] = "/tmp/gantry-atomic-XXXXXX", f[300], t[300], v[300], buf[64];
        if (!mkdtemp(dir)) {
            ok(0, "mkdtemp: %s", strerror(errno));
            return tap_done();
        }
        snprintf(f, sizeof(f), "%s/state", dir);
        snprintf(t, sizeof(t), "%s/state.tmp", dir);
        snprintf(v, sizeof(v), "%s/victim", dir);
        gt_error_t e = {0};
        mode_t um = umask(077);
        is_int(gt_write_file_atomic(f, "one\n", 4, 0640, &e), 0, "atomic write: a new file");
        umask(um);
        struct stat sb;
        ok(stat(f, &sb) == 0 && (sb.st_mode & 07777) == 0640,
           "its mode exactly 0640 under umask 077 (got %o)", (unsigned)(sb.st_mode & 07777));
        char *got = gt_read_file(f, NULL, &e);
        is_str(got, "one\n", "its contents");
        free(got);
        int entries = 0;
        DIR *d = opendir(dir);
        for (struct dirent *de; d && (de = readdir(d));)
            entries += de->d_name[0] != '.';
        if (d)
            closedir(d);
        is_int(entries, 1, "no temporary file left beside it");

        int old = open(f, O_RDONLY);
        ino_t ino = sb.st_ino;
        is_int(gt_write_file_atomic(f, "two, longer\n", 12, 0600, &e), 0, "replaced");
        ssize_t n = old >= 0 ? read(old, buf, sizeof(buf) - 1) : -1;
        buf[n > 0 ? n : 0] = '\0';
        is_str(buf, "one\n",
               "a reader of the old file still sees the old one whole (a rename, "
               "not a rewrite in place)");
        if (old >= 0)
            close(old);
        got = gt_read_file(f, NULL, &e);
        is_str(got, "two, longer\n", "and the path has the new one");
        free(got);
        ok(stat(f, &sb) == 0 && sb.st_ino != ino && (sb.st_mode & 07777) == 0600,
           "a new inode with the new mode");

        FILE *vf = fopen(v, "w");
        if (vf) {
            fputs("victim\n", vf);
            fclose(vf);
        }
        ok(symlink(v, t) == 0, "a stale <path>.tmp that is a symlink to another file");
        is_int(gt_write_file_atomic(f, "three\n", 6, 0600, &e), 0, "written anyway");
        got = gt_read_file(v, NULL, &e);
        is_str(got, "victim\n", "the symlink's target is untouched");
        free(got);
        ok(link(v, t) == 0, "a stale <path>.tmp that is a hard link to another file");
        is_int(gt_write_file_atomic(f, "four\n", 5, 0600, &e), 0, "written anyway");
        got = gt_read_file(v, NULL, &e);
        is_str(got, "victim\n", "the linked file is untouched (not truncated, not renamed)");
        free(got);
        ok(stat(v, &sb) == 0 && sb.st_nlink == 1, "and it has one link again");
        got = gt_read_file(f, NULL, &e);
        is_str(got, "four\n", "the path has the last contents");
        free(got);

        char l[300];
        snprintf(l, sizeof(l), "%s/link", dir);
        ok(symlink(v, l) == 0, "a path that is a symlink");
        is_int(gt_write_file_atomic(l, "", 0, 0644, &e), 0, "an empty file written there");
        ok(lstat(l, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0,
           "the link itself is replaced by an empty regular file");
        got = gt_read_file(v, NULL, &e);
        is_str(got, "victim\n", "its target untouched");
        free(got);

        char m[300];
        snprintf(m, sizeof(m), "%s/missing/state", dir);
        errno = 0;
        memset(&e, 0, sizeof(e));
        is_int(gt_write_file_atomic(m, "x", 1, 0600, &e), -1, "a missing directory: -1");
        is_int(errno, ENOENT, "ENOENT");
        is_str(e.code, "io_error", "code io_error");
        ok(strstr(e.msg, m) != NULL, "the message names the path: %s", e.msg);

        char sub[300], subt[300], inner[320];
        snprintf(sub, sizeof(sub), "%s/sub", dir);
        snprintf(subt, sizeof(subt), "%s/sub.tmp", dir);
        snprintf(inner, sizeof(inner), "%s/sub/x", dir);
        mkdir(sub, 0755);
        vf = fopen(inner, "w");
        if (vf)
            fclose(vf);
        errno = 0;
        is_int(gt_write_file_atomic(sub, "x", 1, 0600, &e), -1,
               "the rename fails (a directory in the way): -1");
        ok(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST, "with its errno (%s)",
           strerror(errno));
        ok(access(subt, F_OK) != 0 && errno == ENOENT, "and no temporary file left");
        ok(access(inner, F_OK) == 0, "the directory in the way is untouched");

        ok(mkdir(t, 0700) == 0, "a <path>.tmp that is a directory");
        errno = 0;
        is_int(gt_write_file_atomic(f, "five\n", 5, 0600, &e), -1,
               "a <path>.tmp that cannot be removed: -1");
        ok(stat(t, &sb) == 0 && S_ISDIR(sb.st_mode), "and it is left as it was (not ours)");
        got = gt_read_file(f, NULL, &e);
        is_str(got, "four\n", "the path keeps its old contents");
        free(got);

        /* A short write (the file size limit, as a full disk would): an error, never a
         * truncated file put in place. */
        rmdir(t);
        struct rlimit saved, small;
        getrlimit(RLIMIT_FSIZE, &saved);
        small = saved;
        small.rlim_cur = 3;
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &small);
        errno = 0;
        int wr = gt_write_file_atomic(f, "longer than three\n", 18, 0600, &e);
        int werr = errno;
        setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, SIG_DFL);
        is_int(wr, -1, "a short write (RLIMIT_FSIZE 3 bytes): -1");
        is_int(werr, EFBIG, "EFBIG");
        ok(access(t, F_OK) != 0, "no partial temporary file left");
        got = gt_read_file(f, NULL, &e);
        is_str(got, "four\n", "the path keeps its old contents, whole");
        free(got);

        char cmd[320];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            ok(0, "cleanup");
    }
    return tap_done();
}
