#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
    ok(gt_parse_gpus_milli("0", &v, &err) == -1, "zero GPUs rejected");
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
    gt_buf_free(&b);

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
    return tap_done();
}
