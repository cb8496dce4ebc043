/* test_series.c: the server's own time series (server/series.h): points in time order,
 * queries as columns (averaged into buckets past max_points), and ageing: raw points past the
 * retention become one hourly point per whole hour (the mean), hourly points past
 * SERIES_HOURLY_KEEP_S go, with the store writes that do the same. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/series.h"
#include "tap.h"

#define H ((int64_t)3600 * 300000) /* an hour boundary */

static json_t *pt(double alloc, double util)
{
    json_t *o = json_pack("{s:{s:f,s:f}}", "gpus", "allocated", alloc, "total", 8.0);
    if (util >= 0)
        json_object_set_new(o, "utilization", json_real(util));
    return o;
}

static double num(json_t *o, const char *path, size_t i)
{
    char *p = strdup(path), *save = NULL;
    json_t *v = o;
    for (char *k = strtok_r(p, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    free(p);
    json_t *x = json_array_get(v, i);
    return json_is_number(x) ? json_number_value(x) : NAN;
}

static void free_ops(store_op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)ops[i].d);
    free(ops);
}

int main(void)
{
    /* ---- adding and reading ---- */
    series_t *s = series_new(60, 7200);
    json_t *p = pt(1, 0.5);
    is_int(series_add(s, 0, H, p), 0, "a point");
    is_int(series_add(s, 0, H, p), -1, "another at the same time is refused");
    is_int(errno, EINVAL, "EINVAL");
    is_int(series_add(s, 0, H - 60, p), -1, "one before the last is refused");
    json_decref(p);
    p = pt(3, -1); /* no utilization in this one */
    is_int(series_add(s, 0, H + 60, p), 0, "a second point, without utilization");
    json_decref(p);
    is_int(series_count(s), 2, "two points held");
    json_t *q = series_query(s, H, H + 60, 100);
    is_int(json_array_size(json_object_get(q, "time")), 2, "a query returns both");
    is_int(json_integer_value(json_array_get(json_object_get(q, "time"), 1)), H + 60,
           "with their times");
    ok(num(q, "gpus.allocated", 0) == 1 && num(q, "gpus.allocated", 1) == 3,
       "a nested number becomes a column: gpus.allocated = [1, 3]");
    ok(num(q, "utilization", 0) == 0.5, "utilization 0.5 in the first");
    ok(json_is_null(json_array_get(json_object_get(q, "utilization"), 1)),
       "and null where the point has none (not 0: no value is not a zero)");
    is_int(json_integer_value(json_object_get(q, "step")), 60, "step: the interval");
    json_decref(q);
    q = series_query(s, H + 1, H + 1000, 100);
    is_int(json_array_size(json_object_get(q, "time")), 1, "since/until bound the points");
    json_decref(q);
    series_free(s);

    /* ---- averaging past max_points ---- */
    s = series_new(60, 86400);
    for (int i = 0; i < 100; i++) {
        p = pt(i, -1);
        series_add(s, 0, H + 60 * i, p);
        json_decref(p);
    }
    q = series_query(s, H, H + 60 * 99, 10);
    size_t rows = json_array_size(json_object_get(q, "time"));
    int64_t step = json_integer_value(json_object_get(q, "step"));
    ok(rows <= 10 && rows >= 9, "100 points asked as at most 10: %zu rows", rows);
    is_int(step % 60, 0, "the step (%lld s) is a multiple of the interval", (long long)step);
    is_int(step, 600, "600 s: 6000 s of points in 10 buckets");
    ok(num(q, "gpus.allocated", 0) == 4.5, "the first bucket is the mean of its points (0..9): %g",
       num(q, "gpus.allocated", 0));
    is_int(json_integer_value(json_array_get(json_object_get(q, "time"), 1)), H + 600,
           "each bucket at its first second");
    json_decref(q);
    series_free(s);

    /* ---- ageing ---- */
    s = series_new(60, 7200);
    for (int i = 0; i < 240; i++) { /* 4 hours of minutes; utilization in half the second hour */
        p = pt(i, i >= 60 && i < 90 ? 0.25 : -1);
        series_add(s, 0, H + 60 * i, p);
        json_decref(p);
    }
    store_op_t *ops = NULL;
    size_t nops = 0, cap = 0;
    size_t changed = series_compact(s, H + 4 * 3600, &ops, &nops, &cap);
    is_int(changed, 120, "at 4 h, with a retention of 2 h: the first 2 hours (120 points) age");
    is_int(series_count(s), 122, "into 2 hourly points, 120 raw ones kept");
    is_int(nops, 4, "4 store writes: per hour, a delete of its raw points and its hourly point");
    ok(nops == 4 && ops[0].kind == STORE_SERIES_DEL && ops[0].id == 0 && ops[0].n == H &&
           ops[0].m == H + 3600, "the first deletes raw points in [H, H+1h)");
    ok(nops == 4 && ops[1].kind == STORE_SERIES_PUT && ops[1].id == 1 && ops[1].n == H,
       "then puts the hourly point at H");
    json_t *doc = nops == 4 ? json_loads(ops[1].d, 0, NULL) : NULL;
    ok(doc && json_number_value(json_object_get(json_object_get(doc, "gpus"), "allocated")) == 29.5,
       "its document is the mean of the hour's points (0..59: 29.5): %s", nops ? ops[1].d : "");
    ok(doc && !json_object_get(doc, "utilization"), "and has no utilization (none of them had)");
    json_decref(doc);
    doc = nops == 4 ? json_loads(ops[3].d, 0, NULL) : NULL;
    ok(doc && json_number_value(json_object_get(doc, "utilization")) == 0.25,
       "the second hour's utilization is the mean of the points that had one (0.25, not 0.125)");
    json_decref(doc);
    free_ops(ops, nops);
    q = series_query(s, H, H + 4 * 3600, 1000);
    is_int(json_integer_value(json_array_get(json_object_get(q, "time"), 0)), H,
           "a query sees the hourly point first");
    ok(num(q, "gpus.allocated", 1) == 89.5, "then the second hour's mean (89.5)");
    ok(num(q, "utilization", 1) == 0.25, "its utilization in memory too: the mean of the 30 points "
       "that had one (%g)", num(q, "utilization", 1));
    ok(num(q, "gpus.allocated", 2) == 120, "then the raw points (120 at H+2h)");
    json_decref(q);

    ops = NULL;
    nops = cap = 0;
    is_int(series_compact(s, H + 4 * 3600 + 59, &ops, &nops, &cap), 0,
           "a minute later nothing more ages (the third hour is not all past the retention)");
    is_int(nops, 0, "and nothing is written");
    free_ops(ops, nops);

    ops = NULL;
    nops = cap = 0;
    changed = series_compact(s, H + 5 * 3600, &ops, &nops, &cap);
    is_int(changed, 60, "at 5 h the third hour ages");
    free_ops(ops, nops);

    ops = NULL;
    nops = cap = 0;
    changed = series_compact(s, H + SERIES_HOURLY_KEEP_S + 3600 + 1, &ops, &nops, &cap);
    ok(nops >= 1 && ops[nops - 1].kind == STORE_SERIES_DEL && ops[nops - 1].id == 1 &&
           ops[nops - 1].m == H + 3600 + 1, "past SERIES_HOURLY_KEEP_S hourly points are deleted "
           "from the store");
    q = series_query(s, 0, H + SERIES_HOURLY_KEEP_S + 7200, 5000);
    is_int(json_integer_value(json_array_get(json_object_get(q, "time"), 0)), H + 3600 * 2,
           "and from memory: the oldest left is the third hour's");
    json_decref(q);
    free_ops(ops, nops);
    series_free(s);
    return tap_done();
}
