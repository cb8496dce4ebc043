/* test_views.c: what the job views rest on: times a person reads and writes
 * (common/timefmt.c), the CLI's aligned and CSV tables (cli/table.c), job labels
 * (server/job.c: job_labels_check) and selectors (server/job_filter.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/table.h"
#include "common/timefmt.h"
#include "server/server.h"
#include "tap.h"

static gt_error_t err;

/* 2026-11-30T12:00:00Z */
#define NOON_UTC 1796040000.0

static void test_time_format(void)
{
    char b[64];
    is_str(gt_time_local(NOON_UTC, b, sizeof(b)), "2026-11-30T14:00:00",
           "local ISO 8601 in the local zone (UTC+2 here)");
    is_str(gt_time_local(NOON_UTC + 0.9, b, sizeof(b)), "2026-11-30T14:00:00", "to the second");
    is_str(gt_time_local(0, b, sizeof(b)), "-", "0 (never happened): -");
    is_str(gt_time_local(-5, b, sizeof(b)), "-", "negative: -");
    is_str(gt_format_elapsed(0, b, sizeof(b)), "00:00:00", "elapsed 0");
    is_str(gt_format_elapsed(3725, b, sizeof(b)), "01:02:05", "elapsed HH:MM:SS");
    is_str(gt_format_elapsed(86400 * 3 + 61, b, sizeof(b)), "3-00:01:01", "elapsed D-HH:MM:SS (sacct)");
    is_str(gt_format_elapsed(-1, b, sizeof(b)), "-", "elapsed < 0: -");
}

static void parses(const char *s, double want, const char *what)
{
    double got = -1;
    int rc = gt_time_parse(s, NOON_UTC + 30, &got, &err);
    ok(rc == 0 && got == want, "%s: '%s'", what, s);
    if (rc != 0 || got != want)
        diag("rc %d, got %.3f, want %.3f (%s)", rc, got, want, err.msg);
}

static void refused(const char *s, const char *what)
{
    double got = 0;
    errno = 0;
    int rc = gt_time_parse(s, NOON_UTC, &got, &err);
    ok(rc == -1 && errno == EINVAL && (strstr(err.msg, "is not a time") || !*s), "refused: %s ('%s')",
       what, s);
}

static void test_time_parse(void)
{
    parses("2026-11-30T14:00:00", NOON_UTC, "local date and time");
    parses("2026-11-30 14:00:00", NOON_UTC, "a space for the T");
    parses("2026-11-30T14:00", NOON_UTC, "without seconds");
    parses("2026-11-30", NOON_UTC - 14 * 3600, "a date alone: local midnight");
    parses("2026-11-30T12:00:00Z", NOON_UTC, "RFC 3339 in UTC");
    parses("2026-11-30T12:00:00.25Z", NOON_UTC + 0.25, "with a fraction");
    parses("2026-11-30T13:30:00+01:30", NOON_UTC, "with an offset");
    parses("2026-11-30T07:00:00-0500", NOON_UTC, "an offset without a colon");
    parses("1796040000", NOON_UTC, "epoch seconds");
    parses("1796040000.5", NOON_UTC + 0.5, "epoch seconds with a fraction");
    parses("now", NOON_UTC + 30, "now");
    parses("today", NOON_UTC - 14 * 3600, "today: local midnight");
    parses("yesterday", NOON_UTC - 14 * 3600 - 86400, "yesterday");
    parses("2d", NOON_UTC + 30 - 2 * 86400, "a duration ago: 2d");
    parses("1h30m", NOON_UTC + 30 - 5400, "1h30m ago");
    parses("+2h", NOON_UTC + 30 + 7200, "a duration from now: +2h");
    refused("", "empty");
    refused("next tuesday", "words");
    refused("2026-13-01", "month 13");
    refused("2026-02-30", "February 30");
    refused("2026-11-30T25:00", "hour 25");
    refused("2026-11-30T12:00:00+", "a sign without an offset");
    refused("2026-11-30T12:00:00Zjunk", "junk after the zone");
    refused("2026-11-30junk", "junk after the date");
    refused("1e9", "a number in exponent form");
    refused("-5d", "a negative duration");
    refused("+", "a sign without a duration");
    refused("+-5d", "a sign before a negative duration");
}

static char *table_text(cli_table_t *t, bool csv)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (csv)
        cli_table_print_csv(t, f);
    else
        cli_table_print(t, f);
    fclose(f);
    return text;
}

static void test_table(void)
{
    const char *h[] = {"ID", "NAME", "REASON"};
    cli_table_t *t = cli_table_new(3, h);
    const char *r1[] = {"1", "a-long-name", "waiting"};
    const char *r2[] = {"12345", "b", ""};
    const char *r3[] = {"7", NULL, "x,\"y\""};
    cli_table_add(t, r1);
    cli_table_add(t, r2);
    cli_table_add(t, r3);
    is_int(cli_table_rows(t), 3, "three rows");
    char *s = table_text(t, false);
    is_str(s,
           "ID     NAME         REASON\n"
           "1      a-long-name  waiting\n"
           "12345  b\n"
           "7                   x,\"y\"\n",
           "each column as wide as its widest cell, two spaces apart, no trailing spaces");
    free(s);
    s = table_text(t, true);
    is_str(s, "ID,NAME,REASON\n1,a-long-name,waiting\n12345,b,\n7,,\"x,\"\"y\"\"\"\n",
           "CSV: a cell with a comma or a quote is quoted, quotes doubled");
    free(s);
    cli_table_free(t);
    cli_table_free(NULL);
    ok(cli_table_new(0, h) == NULL, "no columns: NULL");
}

static json_t *labels(const char *text)
{
    json_error_t je;
    return json_loads(text, 0, &je);
}

static void label_ok(const char *text, const char *what)
{
    json_t *v = labels(text);
    ok(v && job_labels_check(v, "labels", &err) == 0, "labels accepted: %s", what);
    json_decref(v);
}

static void label_refused(const char *text, const char *what)
{
    json_t *v = labels(text);
    errno = 0;
    ok(v && job_labels_check(v, "labels", &err) == -1 && errno == EINVAL, "labels refused: %s",
       what);
    json_decref(v);
}

static void test_labels(void)
{
    label_ok("{}", "none");
    label_ok("{\"app\": \"web\", \"a.b_c-D9\": \"X.y_z-1\"}", "letters, digits, . _ -");
    label_ok("{\"example.com/team\": \"\"}", "a prefix, an empty value");
    char k63[64], k64[65];
    memset(k63, 'k', 63), k63[63] = 0;
    memset(k64, 'k', 64), k64[64] = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"%s\": \"%s\"}", k63, k63);
    label_ok(buf, "a 63-character key and value");
    snprintf(buf, sizeof(buf), "{\"%s\": \"v\"}", k64);
    label_refused(buf, "a 64-character key");
    snprintf(buf, sizeof(buf), "{\"k\": \"%s\"}", k64);
    label_refused(buf, "a 64-character value");
    label_refused("{\"\": \"v\"}", "an empty key");
    label_refused("{\"a b\": \"v\"}", "a space in the key");
    label_refused("{\"-a\": \"v\"}", "a key beginning with -");
    label_refused("{\"a\": \"v-\"}", "a value ending with -");
    label_refused("{\"a\": \"x y\"}", "a space in the value");
    label_refused("{\"/a\": \"v\"}", "an empty prefix");
    label_refused("{\"a/b/c\": \"v\"}", "two slashes");
    label_refused("{\"a_b/c\": \"v\"}", "an _ in the prefix");
    label_refused("{\"a\": 1}", "a number");
    label_refused("[\"a\"]", "not an object");
    gt_buf_t b = {0};
    gt_buf_printf(&b, "{");
    for (int i = 0; i < JOB_MAX_LABELS; i++)
        gt_buf_printf(&b, "%s\"k%d\": \"v\"", i ? ", " : "", i);
    label_ok(b.data ? strcat(b.data, "}") : "{}", "64 labels");
    b.len = 0;
    gt_buf_printf(&b, "{");
    for (int i = 0; i <= JOB_MAX_LABELS; i++)
        gt_buf_printf(&b, "%s\"k%d\": \"v\"", i ? ", " : "", i);
    gt_buf_printf(&b, "}");
    label_refused(b.data, "65 labels");
    gt_buf_free(&b);
}

/* Whether selector sel matches a job with these labels (JSON). */
static int sel_matches(const char *sel, const char *lab)
{
    job_filter_t f = {0};
    for (int i = 0; i < 5; i++)
        f.states[i] = true;
    if (job_selector_parse(sel, &f, &err) < 0) {
        diag("selector '%s' refused: %s", sel, err.msg);
        return -1;
    }
    job_t j = {.team = "t", .user = "u", .labels = labels(lab)};
    int m = job_filter_match(&f, &j);
    json_decref(j.labels);
    job_filter_free(&f);
    return m;
}

static void test_selectors(void)
{
    const char *L = "{\"app\": \"web\", \"tier\": \"gold\"}";
    is_int(sel_matches("app=web", L), 1, "k=v");
    is_int(sel_matches("app=db", L), 0, "k=v, another value");
    is_int(sel_matches("app==web", L), 1, "k==v");
    is_int(sel_matches("app!=db", L), 1, "k!=v");
    is_int(sel_matches("app!=web", L), 0, "k!=v, the same value");
    is_int(sel_matches("zone!=eu", L), 1, "k!=v with k absent: matches (Kubernetes)");
    is_int(sel_matches("tier", L), 1, "k: has it");
    is_int(sel_matches("zone", L), 0, "k: has it not");
    is_int(sel_matches("!zone", L), 1, "!k: has it not");
    is_int(sel_matches("!tier", L), 0, "!k: has it");
    is_int(sel_matches("app=web,tier=gold", L), 1, "two terms, both hold");
    is_int(sel_matches("app=web,tier=silver", L), 0, "two terms, one fails");
    is_int(sel_matches(" app = web , !zone ", L), 1, "spaces around terms");
    is_int(sel_matches("app=", "{\"app\": \"\"}"), 1, "k= matches an empty value");
    is_int(sel_matches("app", "{}"), 0, "a job without labels");
    const char *bad[] = {"", ",", "app=web,", "=web", "!", "a b=c", "app=we b", "app=a=b",
                         "!app=web", "app!=!x", NULL};
    for (int i = 0; bad[i]; i++) {
        job_filter_t f = {0};
        errno = 0;
        ok(job_selector_parse(bad[i], &f, &err) == -1 && errno == EINVAL,
           "selector refused: '%s'", bad[i]);
        job_filter_free(&f);
    }
    gt_buf_t b = {0};
    for (int i = 0; i < 65; i++)
        gt_buf_printf(&b, "%sk%d", i ? "," : "", i);
    job_filter_t f = {0};
    ok(job_selector_parse(b.data, &f, &err) == -1 && strstr(err.msg, "at most 64"),
       "65 terms: refused");
    job_filter_free(&f);
    gt_buf_free(&b);
}

static void test_window(void)
{
    job_filter_t f = {0};
    for (int i = 0; i < 5; i++)
        f.states[i] = true;
    job_t j = {.team = "t", .user = "u", .end_time = 100.5};
    f.has_since = true, f.since = 100.5;
    is_int(job_filter_match(&f, &j), 1, "since = end_time: in");
    f.since = 100.6;
    is_int(job_filter_match(&f, &j), 0, "since after end_time: out");
    f.has_since = false, f.has_until = true, f.until = 100.5;
    is_int(job_filter_match(&f, &j), 0, "until = end_time: out (exclusive)");
    f.until = 100.6;
    is_int(job_filter_match(&f, &j), 1, "until after end_time: in");
    j.end_time = 0;
    is_int(job_filter_match(&f, &j), 0, "a job not ended: out of any window");
    f.has_until = false;
    is_int(job_filter_match(&f, &j), 1, "no window: in");
}

int main(void)
{
    setenv("TZ", "XST-2", 1); /* UTC+2, no daylight saving */
    tzset();
    test_time_format();
    test_time_parse();
    test_table();
    test_labels();
    test_selectors();
    test_window();
    return tap_done();
}
