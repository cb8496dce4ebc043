/* test_services.c: the job kinds (job.c's "kind" field) and the services' rules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/job.h"
#include "tap.h"

static job_t *parse(const char *text, gt_error_t *err)
{
    json_error_t je;
    json_t *b = json_loads(text, 0, &je);
    if (!b)
        diag("bad test body %s: %s", text, je.text);
    job_t *j = NULL;
    job_array_t arr;
    memset(err, 0, sizeof(*err));
    errno = 0;
    int rc = job_parse_request(b, "alice", "research", &j, &arr, err);
    job_array_free(&arr);
    json_decref(b);
    return rc == 0 ? j : NULL;
}

static void test_kind(void)
{
    gt_error_t err;
    job_t *j = parse("{\"command\": [\"true\"]}", &err);
    ok(j && j->kind == JOB_KIND_BATCH, "no kind: batch");
    json_t *o = j ? job_to_json(j) : NULL;
    ok(o && !json_object_get(o, "kind"), "a batch job's document omits kind");
    json_decref(o);
    job_free(j);

    j = parse("{\"command\": [\"true\"], \"kind\": \"batch\"}", &err);
    ok(j && j->kind == JOB_KIND_BATCH, "kind batch");
    job_free(j);
    j = parse("{\"command\": [\"true\"], \"kind\": \"interactive\"}", &err);
    ok(j && j->kind == JOB_KIND_INTERACTIVE, "kind interactive");
    o = j ? job_to_json(j) : NULL;
    is_str(o ? json_string_value(json_object_get(o, "kind")) : NULL, "interactive",
           "the document says kind interactive");
    char *doc = o ? json_dumps(o, 0) : NULL;
    job_t *back = NULL;
    ok(doc && job_from_doc(doc, &back, &err) == 0 && back->kind == JOB_KIND_INTERACTIVE,
       "kind survives the stored document");
    job_free(back);
    free(doc);
    json_decref(o);
    job_free(j);

    j = parse("{\"command\": [\"true\"], \"kind\": \"daemon\"}", &err);
    ok(!j && errno == EINVAL, "an unknown kind is refused");
    is_str(err.code, "bad_request", "  with code bad_request");
    ok(strstr(err.msg, "batch") && strstr(err.msg, "service") && strstr(err.msg, "interactive"),
       "  naming the three kinds: %s", err.msg);
    j = parse("{\"command\": [\"true\"], \"kind\": 3}", &err);
    ok(!j && !strcmp(err.code, "bad_request"), "a kind that is not a string is refused");

    job_kind_t k = JOB_KIND_SERVICE;
    errno = 0;
    ok(job_kind_parse("Service", &k) == -1 && errno == EINVAL && k == JOB_KIND_SERVICE,
       "job_kind_parse is exact and leaves *out alone");
    is_str(job_kind_name(JOB_KIND_SERVICE), "service", "job_kind_name");
    is_str(job_kind_name((job_kind_t)9), "?", "job_kind_name out of range");
}

int main(void)
{
    test_kind();
    return tap_done();
}
