/* test_job_patch.c: job control's rules in the job module (src/server/job.c): job_patch() (an
 * update of a pending job, validated as a submission), and the hold of a job (hold: true at
 * submission; held, held_by, held_by_admin kept in the document and read back). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/job.h"
#include "tap.h"

static gt_error_t err;

static job_t *submitted(const char *text)
{
    json_error_t je;
    json_t *b = json_loads(text, 0, &je);
    job_t *j = NULL;
    job_array_t arr;
    memset(&err, 0, sizeof(err));
    if (!b || job_parse_request(b, "alice", "research", &j, &arr, &err) < 0)
        diag("could not submit %s: %s", text, err.msg);
    json_decref(b);
    return j;
}

static char *doc(const job_t *j)
{
    json_t *o = job_to_json(j);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* The patch is refused: -1, EINVAL, invalid_argument, a message with needle, j unchanged. */
static void refused(job_t *j, const char *patch, const char *needle)
{
    json_error_t je;
    json_t *p = json_loads(patch, 0, &je);
    char *before = doc(j);
    memset(&err, 0, sizeof(err));
    errno = 0;
    int rc = job_patch(j, p, &err);
    char *after = doc(j);
    is_int(rc, -1, "patch %s is refused", patch);
    is_int(errno, EINVAL, "... errno EINVAL");
    is_str(err.code, "invalid_argument", "... code invalid_argument");
    ok(strstr(err.msg, needle) != NULL, "... the message names it: %s", err.msg);
    is_str(after, before, "... the job is unchanged");
    free(before);
    free(after);
    json_decref(p);
}

static int patched(job_t *j, const char *patch)
{
    json_error_t je;
    json_t *p = json_loads(patch, 0, &je);
    memset(&err, 0, sizeof(err));
    int rc = job_patch(j, p, &err);
    if (rc < 0)
        diag("patch %s refused: %s", patch, err.msg);
    json_decref(p);
    return rc;
}

int main(void)
{
    job_t *j = submitted("{\"name\":\"train\",\"gpus\":4,\"time_limit\":\"1h\","
                         "\"command\":[\"python\",\"train.py\"],\"env\":{\"A\":\"1\"}}");
    ok(j != NULL, "a job to update");
    j->id = 7;
    j->submit_time = 1000.5;

    /* ---- each field an update may change ---- */
    is_int(patched(j, "{\"gpus\":\"2\"}"), 0, "gpus");
    is_int(j->gpus_milli, 2000, "... 2 GPUs");
    is_int(patched(j, "{\"gpus\":0.5}"), 0, "a fraction of a GPU");
    is_int(j->gpus_milli, 500, "... 500 milli-GPUs");
    is_int(patched(j, "{\"nodes\":2,\"gpus\":16}"), 0, "nodes and gpus together");
    is_int(j->nodes, 2, "... 2 nodes");
    is_int(j->gpus_milli, 16000, "... 16 GPUs");
    is_int(patched(j, "{\"time_limit\":\"90m\"}"), 0, "time_limit");
    is_int(j->time_limit_s, 5400, "... 90m is 5400 s");
    is_int(patched(j, "{\"priority_class\":\"production\"}"), 0, "priority_class");
    is_str(j->prio_class, "production", "... production");
    is_int(patched(j, "{\"name\":\"small\"}"), 0, "name");
    is_str(j->name, "small", "... small");
    is_int(patched(j, "{\"gpu_type\":\"H100-80GB\"}"), 0, "gpu_type as one string");
    is_int(json_array_size(j->gpu_types), 1, "... a list of one");
    is_str(json_string_value(json_array_get(j->gpu_types, 0)), "H100-80GB", "... H100-80GB");
    is_int(patched(j, "{\"after_ok\":[3,4]}"), 0, "after_ok");
    is_int(json_array_size(j->dependencies), 2, "... two afterok dependencies");
    is_int(patched(j, "{\"after_ok\":[]}"), 0, "after_ok emptied");
    is_int(json_array_size(j->dependencies), 0, "... none");
    is_int(patched(j, "{\"dependencies\":[{\"type\":\"afterany\",\"job\":\"5_2\"}],"
                      "\"after_ok\":[6]}"), 0, "dependencies and after_ok together");
    ok(json_array_size(j->dependencies) == 2 &&
           !strcmp(json_string_value(json_object_get(json_array_get(j->dependencies, 0), "type")),
                   "afterany") &&
           json_integer_value(json_object_get(json_array_get(j->dependencies, 1), "job")) == 6,
       "... afterany 5_2 then afterok 6");
    is_int(patched(j, "{\"singleton\":true}"), 0, "singleton (the job has a name)");
    ok(j->singleton, "... set");
    is_int(patched(j, "{\"dependencies\":[]}"), 0, "dependencies emptied");
    is_int(json_array_size(j->dependencies), 0, "... none");

    /* ---- what an update leaves alone ---- */
    is_int(j->gpus_milli, 16000, "gpus are kept by updates of other fields");
    is_int(j->nodes, 2, "so are nodes");
    is_int(j->time_limit_s, 5400, "and the time limit");
    is_int(j->id, 7, "the id is kept");
    ok(j->submit_time == 1000.5, "the submit time (its age) is kept");
    is_str(json_string_value(json_array_get(j->command, 1)), "train.py", "the command is kept");
    is_str(json_string_value(json_object_get(j->env, "A")), "1", "the env is kept");
    is_str(j->team, "research", "the team is kept");
    is_str(j->user, "alice", "the user is kept");

    /* ---- refused by the submission's rules, or not an update's field ---- */
    refused(j, "{\"gpus\":-1}", "must not be negative");
    refused(j, "{\"gpus\":1.5}", "gpus");
    refused(j, "{\"gpus\":\"100000000\"}", "too large");
    refused(j, "{\"nodes\":\"two\"}", "'nodes' must be a whole number");
    refused(j, "{\"time_limit\":\"soon\"}", "time_limit");
    refused(j, "{\"name\":\"a b\"}", "'name' must be");
    refused(j, "{\"priority_class\":\"\"}", "'priority_class' must be");
    refused(j, "{\"gpu_type\":\"\"}", "'gpu_type' must be");
    refused(j, "{\"after_ok\":[0]}", "'after_ok' must hold only job ids");
    refused(j, "{\"command\":[\"rm\"]}", "'command' can't be changed by an update");
    refused(j, "{\"team\":\"product\"}", "'team' can't be changed by an update");
    refused(j, "{\"hold\":true}", "'hold' can't be changed by an update");
    refused(j, "{\"gpus\":2,\"time_limit\":\"soon\"}", "time_limit"); /* nothing half-applied */
    refused(j, "{}", "fields to change");
    refused(j, "[1]", "fields to change");
    job_free(j);

    /* ---- hold ---- */
    j = submitted("{\"command\":\"true\",\"hold\":true}");
    ok(j && j->held, "hold: true submits it held");
    is_str(j ? j->held_by : NULL, "alice", "... held by its submitter");
    ok(j && !j->held_by_admin, "... a user's hold");
    char *d = doc(j);
    ok(strstr(d, "\"held\":true") && strstr(d, "\"held_by\":\"alice\""), "the document says so");
    job_t *back = NULL;
    j->held_by_admin = true;
    free(d);
    d = doc(j);
    is_int(job_from_doc(d, &back, &err), 0, "the document reads back");
    ok(back && back->held && back->held_by_admin, "... held, by an admin");
    is_str(back ? back->held_by : NULL, "alice", "... held_by kept");
    job_t *c = job_clone(back);
    is_str(c->held_by, "alice", "a clone keeps held_by (its own copy)");
    ok(c->held_by != back->held_by, "... not a shared pointer");
    job_free(c);
    job_free(back);
    job_free(j);
    free(d);
    j = submitted("{\"command\":\"true\",\"hold\":false}");
    ok(j && !j->held, "hold: false is not held");
    d = doc(j);
    ok(!strstr(d, "held"), "... and its document says nothing of a hold");
    free(d);
    job_free(j);
    json_t *b = json_loads("{\"command\":\"true\",\"hold\":\"yes\"}", 0, NULL);
    job_array_t arr;
    j = NULL;
    is_int(job_parse_request(b, "alice", "research", &j, &arr, &err), -1,
           "hold: \"yes\" is refused");
    ok(strstr(err.msg, "'hold' must be true") != NULL, "... it says what hold takes");
    json_decref(b);
    return tap_done();
}
