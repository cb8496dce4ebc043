/* tracking.h's rules: what a line is, chunks at offsets (sent again, cut short, beyond the end),
 * a reopened server's knowledge of what it has, superseded points of a resumed run, the job
 * token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/tracking.h"
#include "tap.h"

static json_t *steps_of(tracking_read_t *r)
{
    json_t *s = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(r->points, i, p) json_array_append(s, json_object_get(p, "step"));
    return s;
}

static char *steps_str(tracking_t *t, uint64_t id)
{
    tracking_read_t r;
    gt_error_t err = {0};
    if (tracking_read(t, id, 0, 1000000, &r, &err) < 0)
        return strdup("error");
    json_t *s = steps_of(&r);
    char *out = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    tracking_read_free(&r);
    return out;
}

int main(void)
{
    /* ---- one line ---- */
    json_t *p;
    int64_t step;
    double tm;
    const char *why;
    const char *l1 = "{\"step\": 100, \"loss\": 1.73, \"lr\": 3e-4, \"tag\": \"x\"}";
    is_int(tracking_parse_line(l1, strlen(l1), &p, &step, &tm, &why), 0, "a point parses");
    is_int(step, 100, "its step");
    is_int((int)json_object_size(p), 2, "two metrics (the string is left out)");
    ok(json_number_value(json_object_get(p, "lr")) == 3e-4, "lr 3e-4");
    json_decref(p);
    const char *l2 = "{\"loss\": 2}";
    is_int(tracking_parse_line(l2, strlen(l2), &p, &step, &tm, &why), 0, "no step: valid");
    is_int(step, -1, "step -1 (the server numbers it)");
    json_decref(p);
    const char *bad[] = {"not json", "[1, 2]", "{\"tag\": \"only text\"}", "{\"step\": -1, \"a\": 1}",
                         "{\"step\": 1.5, \"a\": 1}", "{\"incarnation\": 2, \"a\": 1}",
                         "{\"a\": 1, \"a\": 2}", NULL};
    for (int i = 0; bad[i]; i++) {
        p = (json_t *)1;
        ok(tracking_parse_line(bad[i], strlen(bad[i]), &p, &step, &tm, &why) == -1 && !p && why,
           "invalid: %s (%s)", bad[i], why ? why : "?");
    }
    ok(tracking_lower_is_better("val_loss") && tracking_lower_is_better("WER") &&
       !tracking_lower_is_better("accuracy"), "min for loss-like names, max for others");

    /* ---- chunks at offsets ---- */
    char dir[] = "/tmp/gantry-test-tracking.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    gt_error_t err = {0};
    tracking_t *t = tracking_open(dir, &err);
    ok(t != NULL, "tracking_open: %s", err.msg);
    const char *c1 = "{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":2}\n{\"step\":3,";
    int64_t have = -1;
    is_int(tracking_ingest_chunk(t, 7, 1, 0, c1, strlen(c1), false, &have, &err), 0, "chunk 1");
    is_int(have, 34, "the server has the two whole lines (34 bytes), not the cut one");
    char *s = steps_str(t, 7);
    is_str(s, "[1,2]", "two points");
    free(s);
    is_int(tracking_ingest_chunk(t, 7, 1, 0, c1, strlen(c1), false, &have, &err), 0,
           "the same chunk again (an agent restarted)");
    s = steps_str(t, 7);
    is_str(s, "[1,2]", "is not doubled");
    free(s);
    const char *c3 = "{\"step\":5,\"a\":5}\n";
    is_int(tracking_ingest_chunk(t, 7, 1, 60, c3, strlen(c3), false, &have, &err), 1,
           "a chunk beyond what the server has: refused");
    is_int(have, 34, "with where to send from");
    const char *c2 = "{\"step\":3,\"a\":3}\nnot json\n\n{\"a\":4}";
    is_int(tracking_ingest_chunk(t, 7, 1, 34, c2, strlen(c2), true, &have, &err), 0,
           "the rest, final (a last line without newline)");
    is_int(have, 34 + (int64_t)strlen(c2), "all of it");
    s = steps_str(t, 7);
    is_str(s, "[1,2,3,4]", "the line without a step follows the last (4)");
    free(s);
    /* run 2 starts again at step 3 (its checkpoint was at 2) */
    const char *r2 = "{\"step\":3,\"a\":30}\n{\"step\":4,\"a\":40}\n{\"step\":5,\"a\":50}\n";
    is_int(tracking_ingest_chunk(t, 7, 2, 0, r2, strlen(r2), false, &have, &err), 0, "run 2");
    tracking_read_t r;
    is_int(tracking_read(t, 7, 0, 1000, &r, &err), 0, "read");
    is_int((int)json_array_size(r.points), 7, "7 points");
    is_int((int)r.invalid, 1, "1 invalid line");
    int nsup = 0;
    size_t i;
    json_array_foreach(r.points, i, p)
    {
        bool sup = json_is_true(json_object_get(p, "superseded"));
        int inc = (int)json_integer_value(json_object_get(p, "incarnation"));
        int64_t st = json_integer_value(json_object_get(p, "step"));
        nsup += sup;
        ok(sup == (inc == 1 && st >= 3), "point run %d step %lld superseded=%d", inc,
           (long long)st, sup);
    }
    is_int(nsup, 2, "run 1's steps 3 and 4 are superseded");
    json_t *sa = json_object_get(r.summary, "a");
    ok(json_number_value(json_object_get(sa, "last")) == 50, "final a: run 2's 50");
    ok(json_number_value(json_object_get(sa, "min")) == 1, "min a: 1");
    is_int((int)json_integer_value(json_object_get(sa, "count")), 5, "5 live points");
    int64_t next = r.next;
    tracking_read_free(&r);
    is_int(tracking_read(t, 7, next, 1000, &r, &err), 0, "read from next");
    is_int((int)json_array_size(r.points), 0, "nothing new");
    tracking_read_free(&r);

    /* ---- a reopened server knows what it has; a torn record is cut ---- */
    tracking_close(t);
    char path[300];
    snprintf(path, sizeof(path), "%s/metrics/7.jsonl", dir);
    FILE *f = fopen(path, "a");
    fputs("{\"i\":1,\"o\":999,\"s\":9", f); /* a crash in the middle of a record */
    fclose(f);
    t = tracking_open(dir, &err);
    is_int(tracking_ingest_chunk(t, 7, 1, 0, c1, strlen(c1), false, &have, &err), 0,
           "after a restart, the first chunk again");
    is_int(have, 34 + (int64_t)strlen(c2), "the server still knows it has all of run 1");
    is_int(tracking_ingest_chunk(t, 7, 2, 0, r2, strlen(r2), false, &have, &err), 0,
           "run 2 again");
    s = steps_str(t, 7);
    is_str(s, "[1,2,3,4,3,4,5]", "nothing doubled, the torn record gone");
    free(s);
    int taken, invalid;
    const char *body = "{\"a\": 6}\n{\"b\":\n";
    is_int(tracking_ingest_http(t, 7, 2, body, strlen(body), &taken, &invalid, &err), 0,
           "HTTP points");
    ok(taken == 1 && invalid == 1, "one taken, one invalid");
    s = steps_str(t, 7);
    is_str(s, "[1,2,3,4,3,4,5,6]", "it follows the last step");
    free(s);

    /* ---- the job token ---- */
    char tok[TRACKING_TOKEN_MAX], forged[TRACKING_TOKEN_MAX];
    tracking_job_token(t, 42, 3, tok);
    uint64_t id = 0;
    int inc = 0;
    ok(tracking_token_check(t, tok, &id, &inc) && id == 42 && inc == 3, "a token names its run");
    snprintf(forged, sizeof(forged), "gj_43_3_%s", strrchr(tok, '_') + 1);
    ok(!tracking_token_check(t, forged, &id, &inc), "another job's id with the same MAC: no");
    snprintf(forged, sizeof(forged), "gj_42_4_%s", strrchr(tok, '_') + 1);
    ok(!tracking_token_check(t, forged, &id, &inc), "another run's: no");
    snprintf(forged, sizeof(forged), "%s", tok);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
    ok(!tracking_token_check(t, forged, &id, &inc), "a changed digit: no");
    ok(!tracking_token_check(t, "gj_42_3_", &id, &inc) && !tracking_token_check(t, "gt_x", &id, &inc),
       "malformed: no");
    tracking_close(t);
    t = tracking_open(dir, &err);
    ok(tracking_token_check(t, tok, &id, &inc), "the key survives a restart");
    tracking_forget(t, 7);
    ok(access(path, F_OK) < 0, "forget removes the file");
    s = steps_str(t, 7);
    is_str(s, "[]", "and the series");
    free(s);
    tracking_close(t);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
