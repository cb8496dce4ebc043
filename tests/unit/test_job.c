/* test_job.c: the server's job module (src/server/job.c): validation of a submission, the JSON
 * form that is both the API's view and the stored document, deep copies and state names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/supervisor.h"
#include "server/job.h"
#include "tap.h"

/* Bodies are written with ' for " to keep them readable. */
static json_t *body_of(const char *text)
{
    char *s = xstrdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *o = json_loads(s, JSON_DECODE_ANY, &je);
    if (!o)
        diag("bad test body %s: %s", text, je.text);
    free(s);
    return o;
}

static job_array_t arr;
static gt_error_t err;

/* job_parse_request as alice of team research; NULL when it refused (err, errno set). */
static job_t *parse_as(const char *text, const char *dflt_team)
{
    json_t *b = body_of(text);
    job_t *j = NULL;
    memset(&err, 0, sizeof(err));
    errno = 0;
    job_array_free(&arr);
    int rc = job_parse_request(b, "alice", dflt_team, &j, &arr, &err);
    json_decref(b);
    if (rc == 0 && !j)
        diag("0 returned without a job for %s", text);
    if (rc != 0 && rc != -1)
        diag("odd return %d for %s", rc, text);
    return rc == 0 ? j : NULL;
}

static job_t *parse(const char *text)
{
    return parse_as(text, "research");
}

/* The body is refused with -1, EINVAL, invalid_argument and a message that holds needle; the
 * out pointer is left alone. */
static void refused(const char *text, const char *needle)
{
    json_t *b = body_of(text);
    job_t *sentinel = (job_t *)&arr, *j = sentinel;
    memset(&err, 0, sizeof(err));
    errno = 0;
    job_array_free(&arr);
    arr.count = 77; /* must come back empty */
    int rc = job_parse_request(b, "alice", "research", &j, &arr, &err);
    json_decref(b);
    ok(rc == -1 && errno == EINVAL && !strcmp(err.code, "invalid_argument") && j == sentinel &&
           arr.count == 0 && arr.index == NULL,
       "refused: %s", text);
    if (rc == 0 && j != sentinel)
        job_free(j);
    ok(strstr(err.msg, needle) != NULL, "  the message says %s: %s", needle, err.msg);
}

static void refused_json(const json_t *b, const char *needle, const char *name)
{
    job_t *j = NULL;
    memset(&err, 0, sizeof(err));
    job_array_free(&arr);
    int rc = job_parse_request(b, "alice", "research", &j, &arr, &err);
    ok(rc == -1 && strstr(err.msg, needle), "%s: %s", name, err.msg);
    if (rc == 0)
        job_free(j);
}

static const char *arr_str(const json_t *a, size_t i)
{
    return json_string_value(json_array_get(a, i));
}

static void test_minimal(void)
{
    job_t *j = parse("{'team':'vision','gpus':1,'command':['true']}");
    ok(j != NULL, "a minimal body is accepted: %s", err.msg);
    if (!j)
        return;
    is_int(j->id, 0, "id 0 until the server numbers it");
    is_int(j->state, JOB_PENDING, "pending");
    is_str(j->team, "vision", "team from the body");
    is_str(j->user, "alice", "user from the caller");
    ok(j->name == NULL && j->prio_class == NULL && j->workdir == NULL && j->ckpt_signal == NULL,
       "no name, class, workdir or checkpoint");
    is_int(j->gpus_milli, 1000, "one GPU");
    is_int(j->nodes, 0, "nodes 0: the scheduler chooses");
    ok(json_is_array(j->gpu_types) && json_array_size(j->gpu_types) == 0, "any GPU type");
    ok(j->cpus_milli == 0 && j->memory_mib == 0 && j->time_limit_s == 0,
       "no cpus, memory or time limit");
    ok(json_is_array(j->command) && json_array_size(j->command) == 1 &&
           !strcmp(arr_str(j->command, 0), "true"),
       "command ['true']");
    ok(json_is_object(j->env) && json_object_size(j->env) == 0, "empty env");
    ok(json_is_array(j->dependencies) && json_array_size(j->dependencies) == 0,
       "no dependencies");
    ok(!j->singleton, "not a singleton");
    ok(j->array_id == -1 && j->array_index == -1 && arr.count == 0 && arr.index == NULL &&
           j->array_count == 0 && j->array_throttle == 0,
       "not an array");
    ok(j->incarnation == 0 && j->nslots == 0 && j->slots == NULL && j->earlier_runs == NULL &&
           j->end_reason == NULL && !j->stopping,
       "never ran");
    job_free(j);

    j = parse("{'command':['true']}");
    ok(j && !strcmp(j->team, "research"), "team defaults to the token's team");
    ok(j && j->gpus_milli == 1000, "gpus defaults to 1");
    job_free(j);
    j = parse_as("{'command':['true']}", NULL);
    ok(!j && errno == EINVAL && strstr(err.msg, "'team' is required"),
       "no team and no default: refused (%s)", err.msg);
    j = parse_as("{'command':['true']}", "");
    ok(!j && strstr(err.msg, "'team' is required"), "an empty default team is none");
    j = parse_as("{'team':'vision','command':['true']}", NULL);
    ok(j && !strcmp(j->team, "vision"), "a team in the body needs no default");
    job_free(j);

    j = parse("{'command':'echo hi > out'}");
    ok(j && json_array_size(j->command) == 3 && !strcmp(arr_str(j->command, 0), "/bin/sh") &&
           !strcmp(arr_str(j->command, 1), "-c") &&
           !strcmp(arr_str(j->command, 2), "echo hi > out"),
       "a command string runs through /bin/sh -c");
    job_free(j);
    j = parse("{'command':['python','train.py','--lr','0.1']}");
    ok(j && json_array_size(j->command) == 4 && !strcmp(arr_str(j->command, 3), "0.1"),
       "a command array is kept as given");
    job_free(j);
}

/* One numeric field: the body {field: value} with a command gives want in the job. */
static void sized(const char *field, const char *value, int64_t want)
{
    char text[256];
    snprintf(text, sizeof(text), "{'command':['x'],'%s':%s}", field, value);
    job_t *j = parse(text);
    int64_t got = -1;
    if (j && !strcmp(field, "gpus"))
        got = j->gpus_milli;
    else if (j && !strcmp(field, "cpus"))
        got = j->cpus_milli;
    else if (j && !strcmp(field, "memory"))
        got = j->memory_mib;
    else if (j && !strcmp(field, "time_limit"))
        got = j->time_limit_s;
    ok(j && got == want, "%s %s -> %lld", field, value, (long long)want);
    if (got != want)
        diag("got %lld (%s)", (long long)got, j ? "" : err.msg);
    job_free(j);
}

static void test_sizes(void)
{
    sized("gpus", "1", 1000);
    sized("gpus", "8", 8000);
    sized("gpus", "'8'", 8000);
    sized("gpus", "2.0", 2000);
    sized("gpus", "'0.5'", 500);
    sized("gpus", "0.5", 500);
    sized("gpus", "0.25", 250);
    sized("gpus", "'.5'", 500);
    sized("gpus", "0.001", 1);
    sized("gpus", "100000", 100000000);
    sized("cpus", "4", 4000);
    sized("cpus", "'32'", 32000);
    sized("cpus", "0.5", 500);
    sized("cpus", "'1500m'", 1500);
    sized("cpus", "'2.5'", 2500);
    sized("memory", "'64Gi'", 65536);
    sized("memory", "'64G'", 65536);
    sized("memory", "'512Mi'", 512);
    sized("memory", "'1Ti'", 1048576);
    sized("memory", "1024", 1024);
    sized("memory", "'1.5Gi'", 1536);
    sized("memory", "'1024Ti'", 1073741824);
    sized("time_limit", "'2h'", 7200);
    sized("time_limit", "'1h30m'", 5400);
    sized("time_limit", "'7d'", 604800);
    sized("time_limit", "3600", 3600);
    sized("time_limit", "'90'", 90);
    sized("time_limit", "'366d'", 366 * 86400);
    /* A JSON real is read as the number it is, whatever its size. */
    sized("memory", "2097152.0", 2097152);
    sized("memory", "1234567.5", 1234568);
    sized("time_limit", "1209600.0", 1209600);
    sized("cpus", "0.1", 100);
    sized("cpus", "1.25", 1250);
    sized("gpus", "0.3", 300);
    refused("{'command':['x'],'gpus':0.9999999}", "at most three decimals");
    /* A string is read whole: what lies past the 63rd character counts too. */
    char zeros[63], text[200];
    memset(zeros, '0', 62);
    zeros[62] = '\0';
    snprintf(text, sizeof(text), "{'command':['x'],'memory':'%s1xyz'}", zeros);
    refused(text, "'memory'");
    snprintf(text, sizeof(text), "{'command':['x'],'time_limit':'%s1h30x'}", zeros);
    refused(text, "'time_limit'");
    snprintf(text, sizeof(text), "'%s1'", zeros);
    sized("gpus", text, 1000); /* the same length without garbage is one GPU */

    sized("gpus", "0", 0);   /* a CPU-only job */
    sized("gpus", "'0'", 0);
    sized("gpus", "0.0", 0);
    refused("{'command':['x'],'gpus':-1}", "'gpus' must not be negative");
    refused("{'command':['x'],'gpus':'-2'}", "'gpus' must not be negative");
    refused("{'command':['x'],'gpus':-0.5}", "'gpus' must be a number of at least 0");
    refused("{'command':['x'],'gpus':1.5}", "'gpus'");
    refused("{'command':['x'],'gpus':'1.5'}", "fraction of one GPU");
    refused("{'command':['x'],'gpus':'0.0001'}", "at most three decimals");
    refused("{'command':['x'],'gpus':'two'}", "gpus 'two' is not valid");
    refused("{'command':['x'],'gpus':'2 '}", "'gpus'");
    refused("{'command':['x'],'gpus':''}", "'gpus'");
    refused("{'command':['x'],'gpus':true}", "'gpus' must be a number or a string");
    refused("{'command':['x'],'gpus':null}", "'gpus' must be a number or a string");
    refused("{'command':['x'],'gpus':[1]}", "'gpus' must be a number or a string");
    refused("{'command':['x'],'gpus':100001}", "'gpus' is too large");
    is_str(err.msg, "'gpus' is too large: at most 100000", "  the limit in GPUs, not milli-GPUs");
    refused("{'command':['x'],'cpus':'100000.001'}", "'cpus' is too large");
    is_str(err.msg, "'cpus' is too large: at most 100000", "  the limit in CPUs");
    refused("{'command':['x'],'gpus':'1000000000'}", "'gpus'");
    refused("{'command':['x'],'cpus':'1.2345'}", "'cpus'");
    refused("{'command':['x'],'cpus':'lots'}", "'cpus'");
    refused("{'command':['x'],'cpus':-1}", "'cpus' must not be negative");
    refused("{'command':['x'],'cpus':{}}", "'cpus' must be a number or a string");
    refused("{'command':['x'],'memory':'64Gb'}", "'memory'");
    refused("{'command':['x'],'memory':'64XB'}", "memory '64XB' is not valid");
    refused("{'command':['x'],'memory':'Gi'}", "'memory'");
    refused("{'command':['x'],'memory':'0x10'}", "memory '0x10' is not valid");
    refused("{'command':['x'],'memory':'1e3Gi'}", "memory '1e3Gi' is not valid");
    refused("{'command':['x'],'cpus':'1.5m'}", "cpus '1.5m' is not valid");
    refused("{'command':['x'],'memory':'-1Gi'}", "'memory' must not be negative");
    refused("{'command':['x'],'memory':'1025Ti'}", "'memory' is too large");
    is_str(err.msg, "'memory' is too large: at most 1024Ti", "  the limit with its unit");
    refused("{'command':['x'],'memory':false}", "'memory' must be a number or a string");
    refused("{'command':['x'],'time_limit':'2x'}", "time_limit': duration '2x' is not valid");
    refused("{'command':['x'],'time_limit':'h'}", "'time_limit'");
    refused("{'command':['x'],'time_limit':'1h30'}", "'time_limit'");
    refused("{'command':['x'],'time_limit':'-5m'}", "'time_limit' must not be negative");
    refused("{'command':['x'],'time_limit':'367d'}", "'time_limit' is too large");
    is_str(err.msg, "'time_limit' is too large: at most 366d", "  the limit in days");
    refused("{'command':['x'],'time_limit':['2h']}", "'time_limit' must be a number or a string");
}

static void test_fields(void)
{
    job_t *j = parse("{'command':['x'],'name':'train-1.a_B','priority_class':'production',"
                     "'nodes':2,'gpus':16,'gpu_type':'h100','workdir':'/data/run 1',"
                     "'env':{'A':'1','EMPTY':'','PATH':'/bin'},'after_ok':[3,5],"
                     "'checkpoint':{'signal':'SIGUSR1','grace':'5m'},'array':'0-9'}");
    ok(j != NULL, "a body with every field is accepted: %s", err.msg);
    if (j) {
        is_str(j->name, "train-1.a_B", "name");
        is_str(j->prio_class, "production", "priority_class");
        is_int(j->nodes, 2, "nodes");
        is_int(j->gpus_milli, 16000, "gpus");
        ok(json_array_size(j->gpu_types) == 1 && !strcmp(arr_str(j->gpu_types, 0), "h100"),
           "a gpu_type string becomes a one-element list");
        is_str(j->workdir, "/data/run 1", "workdir");
        ok(json_object_size(j->env) == 3 &&
               !strcmp(json_string_value(json_object_get(j->env, "A")), "1") &&
               !strcmp(json_string_value(json_object_get(j->env, "EMPTY")), ""),
           "env kept, empty values included");
        json_t *d1 = json_array_get(j->dependencies, 1);
        ok(json_array_size(j->dependencies) == 2 &&
               json_integer_value(json_object_get(d1, "job")) == 5 &&
               !strcmp(json_string_value(json_object_get(d1, "type")), "afterok"),
           "after_ok's ids become afterok dependencies");
        is_str(j->ckpt_signal, "SIGUSR1", "checkpoint signal");
        is_int(j->ckpt_grace_s, 300, "checkpoint grace 5m");
        ok(arr.count == 10 && arr.index[0] == 0 && arr.index[9] == 9 && arr.throttle == 0,
           "array 0-9");
        ok(j->array_count == 10 && j->array_throttle == 0, "the job knows its array's size");
        ok(j->array_id == -1 && j->array_index == -1, "the server numbers array tasks");
    }
    job_free(j);

    j = parse("{'command':['x'],'gpu_type':['a100','h100']}");
    ok(j && json_array_size(j->gpu_types) == 2 && !strcmp(arr_str(j->gpu_types, 1), "h100"),
       "a gpu_type list is kept");
    job_free(j);
    j = parse("{'command':['x'],'checkpoint':{}}");
    ok(j && j->ckpt_signal && !strcmp(j->ckpt_signal, "SIGTERM") && j->ckpt_grace_s == 120,
       "an empty checkpoint object means SIGTERM with 120 s of grace");
    job_free(j);
    j = parse("{'command':['x'],'checkpoint':{'grace':30}}");
    ok(j && !strcmp(j->ckpt_signal, "SIGTERM") && j->ckpt_grace_s == 30, "grace in seconds");
    job_free(j);
    j = parse("{'command':['x'],'checkpoint':{'signal':'SIGINT','grace':'1d'}}");
    ok(j && !strcmp(j->ckpt_signal, "SIGINT") && j->ckpt_grace_s == 86400, "grace at most 1d");
    job_free(j);
    /* Every signal accepted is one the agent can send (else it would send SIGTERM). */
    const char *sigs[] = {"SIGTERM", "SIGINT",  "SIGUSR1", "SIGUSR2",
                          "SIGHUP",  "SIGQUIT", "SIGKILL"};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        char text[100];
        snprintf(text, sizeof(text), "{'command':['x'],'checkpoint':{'signal':'%s'}}", sigs[i]);
        j = parse(text);
        ok(j && !strcmp(j->ckpt_signal, sigs[i]) && supervisor_signal_number(sigs[i]) > 0,
           "checkpoint signal %s, known to the agent", sigs[i]);
        job_free(j);
    }
    j = parse("{'command':['x'],'nodes':0}");
    ok(j && j->nodes == 0, "nodes 0");
    job_free(j);
    j = parse("{'command':['x'],'nodes':4096}");
    ok(j && j->nodes == 4096, "nodes 4096");
    job_free(j);
    char name[160];
    memset(name, 'n', 128);
    name[128] = '\0';
    char text[300];
    snprintf(text, sizeof(text), "{'command':['x'],'name':'%s'}", name);
    j = parse(text);
    ok(j && strlen(j->name) == 128, "a name of 128 characters");
    job_free(j);
    snprintf(text, sizeof(text), "{'command':['x'],'name':'%sn'}", name);
    refused(text, "'name' must be 1 to 128");
}

static void test_refusals(void)
{
    refused("[]", "the body must be a JSON object");
    refused("'job'", "the body must be a JSON object");
    refused("{'command':['x'],'gpu':2}", "unknown field 'gpu'");
    refused("{'command':['x'],'id':7}", "unknown field 'id'");
    refused("{'command':['x'],'state':'running'}", "unknown field 'state'");

    refused("{'team':'vision','gpus':1}", "'command' is required");
    refused("{'command':[]}", "'command' must not be empty");
    refused("{'command':''}", "'command' must be an array of strings");
    refused("{'command':{}}", "'command' must be an array of strings");
    refused("{'command':7}", "'command' must be an array of strings");
    refused("{'command':null}", "'command' must be an array of strings");
    refused("{'command':[1]}", "'command' must hold only non-empty strings");
    refused("{'command':['true',2]}", "'command' must hold only non-empty strings");
    refused("{'command':['true',null]}", "'command' must hold only non-empty strings");
    refused("{'command':['']}", "'command' must hold only non-empty strings");
    refused("{'command':[['sh']]}", "'command' must hold only non-empty strings");

    refused("{'command':['x'],'team':''}", "'team' must be a team name");
    refused("{'command':['x'],'team':7}", "'team' must be a team name");
    refused("{'command':['x'],'name':''}", "'name' must be 1 to 128");
    refused("{'command':['x'],'name':'has space'}", "'name' must be 1 to 128");
    refused("{'command':['x'],'name':'a/b'}", "'name' must be 1 to 128");
    refused("{'command':['x'],'name':5}", "'name' must be 1 to 128");
    refused("{'command':['x'],'priority_class':1}", "'priority_class' must be a class name");
    refused("{'command':['x'],'nodes':-1}", "'nodes' must be a whole number from 0 to 4096");
    refused("{'command':['x'],'nodes':4097}", "'nodes' must be a whole number from 0 to 4096");
    refused("{'command':['x'],'nodes':'2'}", "'nodes' must be a whole number");
    refused("{'command':['x'],'nodes':1.5}", "'nodes' must be a whole number");
    refused("{'command':['x'],'gpu_type':[1]}", "'gpu_type' must hold only non-empty strings");
    refused("{'command':['x'],'gpu_type':['h100','']}", "'gpu_type' must hold only non-empty");
    refused("{'command':['x'],'gpu_type':5}", "'gpu_type' must be an array of strings");
    refused("{'command':['x'],'gpu_type':''}", "'gpu_type' must be a GPU type such as");

    refused("{'command':['x'],'env':[]}", "'env' must be an object of strings");
    refused("{'command':['x'],'env':'A=1'}", "'env' must be an object of strings");
    refused("{'command':['x'],'env':null}", "'env' must be an object of strings");
    refused("{'command':['x'],'env':{'A':1}}", "'env': 'A' must be a name without '='");
    refused("{'command':['x'],'env':{'OK':'1','B':null}}", "'env': 'B' must be");
    refused("{'command':['x'],'env':{'C':['1']}}", "'env': 'C' must be");
    refused("{'command':['x'],'env':{'':'x'}}", "'env': '' must be a name");
    refused("{'command':['x'],'env':{'A=B':'x'}}", "'env': 'A=B' must be a name without '='");

    refused("{'command':['x'],'workdir':'data'}", "'workdir' must be an absolute path");
    refused("{'command':['x'],'workdir':''}", "'workdir' must be an absolute path");
    refused("{'command':['x'],'workdir':5}", "'workdir' must be an absolute path");

    refused("{'command':['x'],'checkpoint':'SIGTERM'}", "'checkpoint' must be an object");
    refused("{'command':['x'],'checkpoint':true}", "'checkpoint' must be an object");
    refused("{'command':['x'],'checkpoint':{'sig':'SIGTERM'}}", "'checkpoint' must be an object");
    refused("{'command':['x'],'checkpoint':{'signal':'SIGTERM','grace':1,'x':1}}",
            "'checkpoint' must be an object with 'signal' and 'grace'");
    refused("{'command':['x'],'checkpoint':{'signal':'USR1'}}", "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':15}}", "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':'SIGVERYLONGNAME'}}",
            "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':'SIGFOO'}}", "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':'SIG'}}", "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':'SIGTERM2'}}", "'checkpoint.signal' must be");
    refused("{'command':['x'],'checkpoint':{'signal':'sigterm'}}",
            "must be one of SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP, SIGQUIT, SIGKILL");
    refused("{'command':['x'],'checkpoint':{'grace':'2d'}}", "'checkpoint.grace' is too large");
    is_str(err.msg, "'checkpoint.grace' is too large: at most 1d", "  the limit as a duration");
    refused("{'command':['x'],'checkpoint':{'grace':'soon'}}", "'checkpoint.grace': duration");
    refused("{'command':['x'],'checkpoint':{'grace':-1}}", "'checkpoint.grace' must not be");

    refused("{'command':['x'],'after_ok':3}", "'after_ok' must be an array of job ids");
    refused("{'command':['x'],'after_ok':[0]}", "'after_ok' must hold only job ids");
    refused("{'command':['x'],'after_ok':[-4]}", "'after_ok' must hold only job ids");
    refused("{'command':['x'],'after_ok':['3']}", "'after_ok' must hold only job ids");
    refused("{'command':['x'],'after_ok':[1.5]}", "'after_ok' must hold only job ids");


}

/* A job as the server holds it after a requeue and a failure. */
static job_t *full_job(void)
{
    job_t *j = parse("{'command':['python','t.py'],'name':'big','priority_class':'normal',"
                     "'nodes':2,'gpus':'0.5','gpu_type':['a100','h100'],'cpus':'1500m',"
                     "'memory':'64Gi','time_limit':'2h','env':{'K':'v'},'workdir':'/w',"
                     "'checkpoint':{'signal':'SIGUSR2','grace':45},'after_ok':[11]}");
    if (!j)
        return NULL;
    j->id = 42;
    j->state = JOB_FAILED;
    j->array_id = 40;
    j->array_index = 2;
    j->idem_key = xstrdup("retry-1");
    j->submit_time = 1700000000.25;
    j->start_time = 1700000100.5;
    j->end_time = 1700000200.75;
    j->incarnation = 2;
    j->earlier_runs = json_pack("[{s:i,s:f,s:f}]", "incarnation", 1, "start_time", 1700000010.0,
                                "end_time", 1700000050.0);
    j->exit_code = 137;
    j->exit_signal = 9;
    j->end_reason = xstrdup("oom");
    j->end_message = xstrdup("the job used more than its 64Gi of memory");
    j->stopping = true;
    job_slot_t s[2] = {{.node = "n1", .gpu_mask = 0xa, .gpu_milli = 1000},
                       {.node = "n2", .gpu_mask = 1ULL | 1ULL << 63, .gpu_milli = 500}};
    job_set_slots(j, s, 2);
    return j;
}

static bool same_json(const json_t *a, const json_t *b)
{
    return json_equal((json_t *)a, (json_t *)b);
}

static void test_json(void)
{
    job_t *j = full_job();
    ok(j != NULL, "the full job parses: %s", err.msg);
    if (!j)
        return;
    json_t *o = job_to_json(j);
    is_int(json_integer_value(json_object_get(o, "id")), 42, "json id");
    is_str(json_string_value(json_object_get(o, "state")), "failed", "json state name");
    is_str(json_string_value(json_object_get(o, "user")), "alice", "json user");
    is_int(json_integer_value(json_object_get(o, "gpus_milli")), 500, "json gpus_milli");
    ok(json_is_real(json_object_get(o, "gpus")) &&
           json_real_value(json_object_get(o, "gpus")) == 0.5,
       "json gpus 0.5");
    is_int(json_integer_value(json_object_get(o, "memory_mib")), 65536, "json memory_mib");
    is_int(json_integer_value(json_object_get(o, "time_limit_s")), 7200, "json time_limit_s");
    json_t *want_ck = json_pack("{s:s,s:i}", "signal", "SIGUSR2", "grace_s", 45);
    ok(same_json(json_object_get(o, "checkpoint"), want_ck), "json checkpoint {signal, grace_s}");
    json_decref(want_ck);
    is_int(json_integer_value(json_object_get(o, "exit_code")), 137, "json exit_code");
    is_int(json_integer_value(json_object_get(o, "exit_signal")), 9, "json exit_signal");
    is_str(json_string_value(json_object_get(o, "end_reason")), "oom", "json end_reason");
    ok(json_is_true(json_object_get(o, "stopping")), "json stopping");
    is_str(json_string_value(json_object_get(o, "idempotency_key")), "retry-1", "json key");
    json_t *pl = json_object_get(o, "placement");
    json_t *want_pl = json_loads("[{\"node\":\"n1\",\"gpus\":[1,3],\"gpu_milli\":1000},"
                                 "{\"node\":\"n2\",\"gpus\":[0,63],\"gpu_milli\":500}]",
                                 0, NULL);
    ok(same_json(pl, want_pl), "placement lists each slot's GPU indexes");
    json_decref(want_pl);
    ok(json_array_size(json_object_get(o, "earlier_runs")) == 1 &&
           json_integer_value(json_object_get(json_array_get(json_object_get(o, "earlier_runs"), 0),
                                              "incarnation")) == 1,
       "earlier_runs in the json");

    char *doc = json_dumps(o, JSON_COMPACT);
    job_t *r = NULL;
    memset(&err, 0, sizeof(err));
    is_int(job_from_doc(doc, &r, &err), 0, "the document reads back: %s", err.msg);
    free(doc);
    if (r) {
        ok(r->id == 42 && r->state == JOB_FAILED, "id and state");
        ok(!strcmp(r->name, "big") && !strcmp(r->team, "research") && !strcmp(r->user, "alice") &&
               !strcmp(r->prio_class, "normal"),
           "name, team, user, class");
        ok(r->gpus_milli == 500 && r->nodes == 2 && r->cpus_milli == 1500 &&
               r->memory_mib == 65536 && r->time_limit_s == 7200,
           "sizes");
        ok(same_json(r->gpu_types, j->gpu_types) && same_json(r->command, j->command) &&
               same_json(r->env, j->env) && same_json(r->dependencies, j->dependencies),
           "gpu types, command, env, dependencies");
        ok(r->command != j->command, "the command is the document's own");
        ok(!strcmp(r->workdir, "/w") && !strcmp(r->ckpt_signal, "SIGUSR2") && r->ckpt_grace_s == 45,
           "workdir and checkpoint");
        ok(r->array_id == 40 && r->array_index == 2 && !strcmp(r->idem_key, "retry-1"),
           "array task and idempotency key");
        ok(r->submit_time == 1700000000.25 && r->start_time == 1700000100.5 &&
               r->end_time == 1700000200.75,
           "times to the fraction of a second");
        ok(r->incarnation == 2 && same_json(r->earlier_runs, j->earlier_runs), "earlier runs");
        ok(r->exit_code == 137 && r->exit_signal == 9, "exit code and signal");
        is_str(r->end_reason, "oom", "end_reason");
        is_str(r->end_message, "the job used more than its 64Gi of memory", "end_message");
        ok(r->stopping, "stopping");
        ok(r->nslots == 2 && !strcmp(r->slots[0].node, "n1") && r->slots[0].gpu_mask == 0xa &&
               r->slots[0].gpu_milli == 1000 && !strcmp(r->slots[1].node, "n2") &&
               r->slots[1].gpu_mask == (1ULL | 1ULL << 63) && r->slots[1].gpu_milli == 500,
           "placement slots");
        json_t *o2 = job_to_json(r);
        ok(same_json(o, o2), "to_json(from_doc(to_json(job))) == to_json(job)");
        json_decref(o2);
        job_free(r);
    }
    json_decref(o);
    job_free(j);

    /* A pending job: what it does not have stays absent both ways. */
    j = parse("{'command':['true']}");
    j->id = 3;
    j->exit_code = 5; /* not shown before the job ends */
    j->earlier_runs = json_array();
    o = job_to_json(j);
    ok(!json_object_get(o, "exit_code") && !json_object_get(o, "start_time") &&
           !json_object_get(o, "end_time") && !json_object_get(o, "end_reason") &&
           !json_object_get(o, "end_message") && !json_object_get(o, "earlier_runs") &&
           !json_object_get(o, "checkpoint") && !json_object_get(o, "array_id") &&
           !json_object_get(o, "name") && !json_object_get(o, "stopping") &&
           !json_object_get(o, "workdir"),
       "a pending job's json has no run, end or options");
    is_str(json_string_value(json_object_get(o, "priority_class")), "", "class '' until set");
    ok(json_is_array(json_object_get(o, "placement")) &&
           json_array_size(json_object_get(o, "placement")) == 0,
       "empty placement");
    doc = json_dumps(o, 0);
    r = NULL;
    is_int(job_from_doc(doc, &r, &err), 0, "a pending job reads back");
    free(doc);
    if (r) {
        ok(r->state == JOB_PENDING && r->id == 3 && r->exit_code == 0 && r->start_time == 0 &&
               r->earlier_runs == NULL && r->end_reason == NULL && r->ckpt_signal == NULL &&
               r->array_id == -1 && r->array_index == -1 && r->nslots == 0 && r->name == NULL &&
               !r->stopping,
           "nothing appears that was not there");
        job_free(r);
    }
    json_decref(o);
    job_free(j);

    /* The least a stored document needs; the rest takes defaults. */
    r = NULL;
    is_int(job_from_doc("{\"id\":7,\"state\":\"running\",\"team\":\"t\"}", &r, &err), 0,
           "a bare document reads");
    if (r) {
        ok(r->id == 7 && r->state == JOB_RUNNING && !strcmp(r->team, "t") && !strcmp(r->user, "") &&
               json_is_array(r->command) && json_is_object(r->env) && json_is_array(r->gpu_types) &&
               json_is_array(r->dependencies) && r->array_id == -1,
           "defaults for what is absent");
        job_free(r);
    }
    const char *bad_docs[] = {
        "",
        "not json",
        "[]",
        "{\"state\":\"pending\",\"team\":\"t\"}",
        "{\"id\":\"7\",\"state\":\"pending\",\"team\":\"t\"}",
        "{\"id\":7,\"team\":\"t\"}",
        "{\"id\":7,\"state\":\"paused\",\"team\":\"t\"}",
        "{\"id\":7,\"state\":\"pending\"}",
        "{\"id\":7,\"state\":\"pending\",\"team\":3}",
    };
    for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
        job_t *sentinel = (job_t *)&arr;
        r = sentinel;
        memset(&err, 0, sizeof(err));
        errno = 0;
        int rc = job_from_doc(bad_docs[i], &r, &err);
        ok(rc == -1 && errno == EINVAL && !strcmp(err.code, "store_error") &&
               strstr(err.msg, "not valid") && r == sentinel,
           "not a job document: %s", bad_docs[i]);
    }
}

/* A job's own document (job_to_json plus what the API adds) submitted again, as
 * `gantry show -o yaml | gantry submit -f -` does: the server's fields are dropped and named,
 * the rest parses to the same job; job_spec_json keeps only what a submission takes. */
static void test_resubmit(void)
{
    job_t *j = full_job();
    if (!j)
        return;
    j->image_digest = xstrdup("sha256:0123");
    j->held = j->held_by_admin = true;
    j->held_by = xstrdup("root");
    json_t *doc = job_to_json(j);
    json_t *api = json_pack("{s:s,s:s,s:I,s:I,s:{s:I},s:[I],s:I,s:[s]}", "pending_reason",
                            "quota", "pending_message", "waits", "blocked_by", (json_int_t)3,
                            "estimated_start", (json_int_t)1700000000, "pull", "bytes",
                            (json_int_t)5, "array_job_ids", (json_int_t)40, "array_count",
                            (json_int_t)1, "ignored", "id");
    json_object_update(doc, api);
    json_decref(api);
    is_str(json_string_value(json_object_get(doc, "cpus")), "1500m", "json cpus as submitted");
    is_str(json_string_value(json_object_get(doc, "memory")), "64Gi", "json memory as submitted");
    is_str(json_string_value(json_object_get(doc, "time_limit")), "2h", "json time_limit too");

    json_t *spec = job_spec_json(doc);
    ok(!json_object_get(spec, "id") && !json_object_get(spec, "state") &&
           !json_object_get(spec, "user") && !json_object_get(spec, "placement") &&
           !json_object_get(spec, "gpus_milli") && !json_object_get(spec, "pending_reason") &&
           json_object_get(spec, "command") && json_object_get(spec, "memory"),
       "job_spec_json keeps only submittable fields");

    json_t *body = json_deep_copy(doc);
    json_t *dropped = job_drop_server_owned(body);
    ok(json_array_size(dropped) > 20 && !json_object_get(body, "id") &&
           !json_object_get(body, "state") && !json_object_get(body, "earlier_runs") &&
           json_object_get(body, "env"),
       "job_drop_server_owned drops and names the server's fields (%zu)",
       json_array_size(dropped));
    json_t *want = json_pack("[s,s,s]", "id", "user", "state");
    json_t *first3 = json_array();
    for (size_t i = 0; i < 3; i++)
        json_array_append(first3, json_array_get(dropped, i));
    ok(json_equal(first3, want), "in the document's order");
    json_decref(want);
    json_decref(first3);

    json_t *forms[2] = {body, spec};
    const char *names[2] = {"the whole document", "the spec"};
    for (int f = 0; f < 2; f++) {
        job_t *r = NULL;
        memset(&err, 0, sizeof(err));
        job_array_free(&arr);
        int rc = job_parse_request(forms[f], "bob", "other", &r, &arr, &err);
        ok(rc == 0, "%s, its server fields dropped, is a valid submission: %s", names[f],
           err.msg);
        if (rc)
            continue;
        ok(!strcmp(r->name, "big") && !strcmp(r->team, "research") &&
               !strcmp(r->prio_class, "normal") && r->gpus_milli == 500 && r->nodes == 2 &&
               r->cpus_milli == 1500 && r->memory_mib == 65536 && r->time_limit_s == 7200 &&
               json_equal(r->gpu_types, j->gpu_types) && json_equal(r->command, j->command) &&
               json_equal(r->env, j->env) && json_equal(r->dependencies, j->dependencies) &&
               !strcmp(r->workdir, "/w") && !strcmp(r->ckpt_signal, "SIGUSR2") &&
               r->ckpt_grace_s == 45 && !strcmp(r->user, "bob") && r->id == 0 &&
               r->state == JOB_PENDING && !r->image_digest && arr.count == 0,
           "%s submits the same job (new id, state, user)", names[f]);
        job_free(r);
    }
    json_object_set_new(body, "bogus", json_true());
    json_t *again = job_drop_server_owned(body);
    ok(again == NULL, "nothing left to drop");
    refused_json(body, "unknown field 'bogus'", "a truly unknown field is still refused");
    json_decref(body);
    json_decref(dropped);
    json_decref(spec);
    json_decref(doc);
    job_free(j);

    /* A pending job's document: "" class and [] types are its forms of unset. */
    j = parse("{'command':['true']}");
    doc = job_to_json(j);
    json_decref(job_drop_server_owned(doc));
    job_t *r = NULL;
    job_array_free(&arr);
    ok(job_parse_request(doc, "alice", "research", &r, &arr, &err) == 0 && !r->prio_class &&
           json_array_size(r->gpu_types) == 0 && !r->cpus_milli && !r->time_limit_s,
       "a pending job's document (class '', gpu_type []) submits again: %s", err.msg);
    job_free(r);
    json_decref(doc);
    job_free(j);
    j = parse("{'command':['x'],'priority_class':'','gpu_type':[]}");
    ok(j && !j->prio_class && json_array_size(j->gpu_types) == 0,
       "priority_class '' is the default class, gpu_type [] any type");
    job_free(j);
    refused("{'command':['x'],'checkpoint':{'grace_s':'5m'}}", "'checkpoint.grace_s' must be a "
            "whole number");
    refused("{'command':['x'],'checkpoint':{'grace_s':5,'grace':5}}", "'checkpoint' must be an "
            "object with");
}

static void test_clone(void)
{
    job_t *j = full_job();
    if (!j) {
        ok(0, "the full job parses");
        return;
    }
    json_t *before = job_to_json(j);
    job_t *c = job_clone(j);
    json_t *co = job_to_json(c);
    ok(same_json(before, co), "the clone's json equals the original's");
    json_decref(co);
    ok(c->name != j->name && c->team != j->team && c->user != j->user &&
           c->prio_class != j->prio_class && c->workdir != j->workdir &&
           c->ckpt_signal != j->ckpt_signal && c->idem_key != j->idem_key &&
           c->end_reason != j->end_reason && c->end_message != j->end_message,
       "strings are copies");
    ok(c->command != j->command && c->env != j->env && c->gpu_types != j->gpu_types &&
           c->dependencies != j->dependencies && c->earlier_runs != j->earlier_runs,
       "json members are copies");
    ok(c->slots != j->slots && c->slots[0].node != j->slots[0].node && c->nslots == 2,
       "slots are copies");

    json_array_append_new(c->command, json_string("--more"));
    json_string_set(json_array_get(c->command, 0), "ruby");
    json_object_set_new(c->env, "K", json_string("changed"));
    json_object_set_new(c->env, "NEW", json_string("1"));
    json_array_clear(c->gpu_types);
    json_array_append_new(c->dependencies, json_integer(12));
    json_object_set_new(json_array_get(c->earlier_runs, 0), "incarnation", json_integer(9));
    c->name[0] = 'B';
    c->team[0] = 'R';
    c->ckpt_signal[3] = 'X';
    c->slots[0].node[0] = 'X';
    c->slots[1].gpu_mask = 0;
    c->id = 43;
    c->array_index = 3;
    json_t *after = job_to_json(j);
    ok(same_json(before, after), "changing the clone leaves the original as it was");
    json_decref(after);
    job_slot_t one = {.node = "n9", .gpu_mask = 1, .gpu_milli = 1000};
    job_set_slots(c, &one, 1);
    ok(j->nslots == 2 && !strcmp(j->slots[1].node, "n2"), "new slots on the clone only");
    job_free(c);
    after = job_to_json(j);
    ok(same_json(before, after), "freeing the clone leaves the original whole");
    json_decref(after);
    json_decref(before);

    /* A job without earlier runs or slots clones to one without them. */
    job_t *p = parse("{'command':['true']}");
    c = p ? job_clone(p) : NULL;
    ok(c && c->earlier_runs == NULL && c->slots == NULL && c->nslots == 0 &&
           c->ckpt_signal == NULL && c->name == NULL,
       "absent members stay absent in a clone");
    job_free(c);
    job_free(p);

    job_set_slots(j, NULL, 0);
    ok(j->slots == NULL && j->nslots == 0, "set_slots with none clears the placement");
    job_free(j);
    job_free(NULL); /* accepted as a no-op; a crash here fails the test */
}

static void test_states(void)
{
    const char *names[] = {"pending", "running", "succeeded", "failed", "cancelled"};
    job_state_t states[] = {JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED};
    bool terminal[] = {false, false, true, true, true};
    for (int i = 0; i < 5; i++) {
        is_str(job_state_name(states[i]), names[i], "name of state %d", i);
        job_state_t s = (job_state_t)-1;
        ok(job_state_parse(names[i], &s) == 0 && s == states[i], "parse %s", names[i]);
        ok(job_state_terminal(states[i]) == terminal[i], "%s is %sterminal", names[i],
           terminal[i] ? "" : "not ");
    }
    is_str(job_state_name((job_state_t)5), "?", "an unknown state's name");
    is_str(job_state_name((job_state_t)-1), "?", "a negative state's name");
    const char *bad_names[] = {"Pending", "RUNNING", "", "cancel", "done", "pending ", "?", NULL};
    for (int i = 0; i < 8; i++) {
        job_state_t s = JOB_RUNNING;
        errno = 0;
        ok(job_state_parse(bad_names[i], &s) == -1 && errno == EINVAL && s == JOB_RUNNING,
           "'%s' is not a state", bad_names[i] ? bad_names[i] : "(null)");
    }
}

/* The environment fields (docs/environments.md): shapes of image, mounts, environment,
 * network; defaults; the JSON round trip and a deep copy. */
static void test_environment(void)
{
    job_t *j = parse("{'command':['true']}");
    ok(j && j->image == NULL && j->environment == NULL && j->image_digest == NULL,
       "defaults: no image, environment or digest");
    ok(j && json_is_array(j->mounts) && json_array_size(j->mounts) == 0, "defaults: no mounts");
    is_str(j ? j->network : NULL, "host", "defaults: network host");
    job_free(j);

    j = parse("{'command':['true'],'image':'docker://reg.example/pytorch:2.4',"
              "'environment':'pytorch-2.4','network':'none','mounts':[{'volume':'datasets',"
              "'sub_path':'./imagenet//train/','path':'/data/','read_only':true},"
              "{'volume':'out','path':'//out'}]}");
    ok(j != NULL, "a job with every environment field parses: %s", err.msg);
    if (!j)
        return;
    is_str(j->image, "docker://reg.example/pytorch:2.4", "image");
    is_str(j->environment, "pytorch-2.4", "environment");
    is_str(j->network, "none", "network");
    json_t *m0 = json_array_get(j->mounts, 0), *m1 = json_array_get(j->mounts, 1);
    is_str(json_string_value(json_object_get(m0, "sub_path")), "imagenet/train",
           "sub_path normalized ('.', '//' and a trailing '/' dropped)");
    is_str(json_string_value(json_object_get(m0, "path")), "/data", "path normalized");
    ok(json_is_true(json_object_get(m0, "read_only")), "read_only kept");
    is_str(json_string_value(json_object_get(m1, "sub_path")), "", "no sub_path: \"\"");
    is_str(json_string_value(json_object_get(m1, "path")), "/out", "'//out' is /out");
    ok(json_object_get(m1, "read_only") == NULL, "read_only absent: the server fills it in");

    j->id = 9;
    j->image_digest = xstrdup("sha256:0123");
    j->pulling = true;
    j->pull_bytes = 77;
    json_t *o = job_to_json(j);
    is_str(json_string_value(json_object_get(o, "image")), j->image, "json image");
    is_str(json_string_value(json_object_get(o, "image_digest")), "sha256:0123",
           "json image_digest");
    is_str(json_string_value(json_object_get(o, "environment")), "pytorch-2.4",
           "json environment");
    is_str(json_string_value(json_object_get(o, "network")), "none", "json network");
    ok(json_equal(json_object_get(o, "mounts"), j->mounts), "json mounts");
    ok(json_object_get(o, "pull") == NULL, "the pull's progress is not in the stored document");
    char *doc = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    job_t *back = NULL;
    ok(job_from_doc(doc, &back, &err) == 0, "the document reads back");
    free(doc);
    if (back) {
        is_str(back->image, j->image, "from_doc: image");
        is_str(back->image_digest, "sha256:0123", "from_doc: image_digest");
        is_str(back->environment, j->environment, "from_doc: environment");
        is_str(back->network, "none", "from_doc: network");
        ok(json_equal(back->mounts, j->mounts), "from_doc: mounts");
        ok(!back->pulling, "from_doc: not pulling (memory only)");
        job_free(back);
    }
    job_t *c = job_clone(j);
    ok(c->image != j->image && !strcmp(c->image, j->image) && c->mounts != j->mounts &&
           json_equal(c->mounts, j->mounts) && !strcmp(c->network, "none") &&
           !strcmp(c->image_digest, "sha256:0123") && !strcmp(c->environment, "pytorch-2.4"),
       "a clone copies the environment fields deeply");
    job_free(c);
    job_free(j);

    /* An old document (before these fields) reads as a plain process job on the host
     * network. */
    ok(job_from_doc("{\"id\":3,\"state\":\"pending\",\"team\":\"t\"}", &j, &err) == 0,
       "an old document reads");
    ok(j && !j->image && json_array_size(j->mounts) == 0 && !strcmp(j->network, "host"),
       "as a plain job: no image, no mounts, network host");
    job_free(j);

    const char *imgs[] = {"docker://r/n:t", "docker://localhost:5000/a/b@sha256:00",
                          "oci:/srv/layout", "oci:/srv/layout:tag", "oci-archive:/x/a.tar",
                          "docker-archive:/x/b.tar", NULL};
    for (int i = 0; imgs[i]; i++) {
        char body[256];
        snprintf(body, sizeof(body), "{'command':['true'],'image':'%s'}", imgs[i]);
        j = parse(body);
        ok(j != NULL, "image %s is accepted: %s", imgs[i], err.msg);
        job_free(j);
    }
    refused("{'command':['true'],'image':'pytorch:2.4'}", "has no transport");
    refused("{'command':['true'],'image':'docker://'}", "names no image after docker://");
    refused("{'command':['true'],'image':'docker:///abs'}", "names no image");
    refused("{'command':['true'],'image':'oci:rel/layout'}", "absolute path");
    refused("{'command':['true'],'image':'oci:/a/../etc'}", "without '..'");
    refused("{'command':['true'],'image':'oci-archive:'}", "absolute path");
    refused("{'command':['true'],'image':'docker://a b'}", "spaces");
    refused("{'command':['true'],'image':''}", "'image' must be");
    refused("{'command':['true'],'image':7}", "'image' must be a string");
    refused("{'command':['true'],'environment':'a b'}", "'environment' must name");
    refused("{'command':['true'],'environment':''}", "'environment' must name");
    refused("{'command':['true'],'network':'bridge'}", "'network' must be");
    refused("{'command':['true'],'network':true}", "'network' must be");
    refused("{'command':['true'],'mounts':{}}", "'mounts' must be a list");
    refused("{'command':['true'],'mounts':['x']}", "mounts[0] must be a mapping");
    refused("{'command':['true'],'mounts':[{'path':'/d'}]}", "mounts[0].volume must name");
    refused("{'command':['true'],'mounts':[{'volume':'v'}]}", "mounts[0].path must be");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'d'}]}", "mounts[0].path");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/'}]}", "other than /");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/a/../b'}]}", "without '..'");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/proc/x'}]}", "under /proc");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/dev'}]}", "under /dev");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/gantry'}]}", "under /gantry");
    j = parse("{'command':['true'],'mounts':[{'volume':'v','path':'/gantryx'}]}");
    ok(j != NULL, "/gantryx is not under /gantry");
    job_free(j);
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','sub_path':'/etc'}]}",
            "sub_path '/etc' is absolute");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','sub_path':'..'}]}",
            "sub_path '..' leaves volume 'v'");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','sub_path':'a/b/../../..'}]}",
            "leaves volume 'v'");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','sub_path':'a/..'}]}",
            "'..' is not allowed");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','sub_path':3}]}",
            "sub_path must be a path");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','read_only':'yes'}]}",
            "read_only must be true or false");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d','ro':true}]}",
            "unknown field 'ro'");
    refused("{'command':['true'],'mounts':[{'volume':'v','path':'/d'},"
            "{'volume':'w','path':'/d/.'}]}", "two mounts at /d (volumes 'v' and 'w')");
    gt_buf_t many = {0};
    gt_buf_printf(&many, "{'command':['true'],'mounts':[");
    for (int i = 0; i <= 64; i++)
        gt_buf_printf(&many, "%s{'volume':'v','path':'/m%d'}", i ? "," : "", i);
    gt_buf_printf(&many, "]}");
    refused(many.data, "at most 64");
    gt_buf_free(&many);
}

/* requeue (sbatch --requeue / --no-requeue) and partition (sbatch -p): parsed, kept in the
 * document, read back after a restart, copied into array tasks. */
static void test_requeue_partition(void)
{
    job_t *j = parse("{'command': ['x']}");
    ok(j && j->requeue == JOB_REQUEUE_DEFAULT && !j->partition,
       "neither given: the class's rule, no partition");
    json_t *o = j ? job_to_json(j) : NULL;
    ok(o && !json_object_get(o, "requeue") && !json_object_get(o, "partition"),
       "and the document has neither");
    json_decref(o);
    job_free(j);
    const char *bodies[] = {"{'command': ['x'], 'requeue': true, 'partition': 'gpu'}",
                            "{'command': ['x'], 'requeue': false, 'partition': 'debug.1'}"};
    for (int k = 0; k < 2; k++) {
        j = parse(bodies[k]);
        ok(j != NULL, "parses: %s", bodies[k]);
        if (!j)
            continue;
        is_int(j->requeue, k ? JOB_REQUEUE_NO : JOB_REQUEUE_YES, "requeue %s", k ? "false" : "true");
        is_str(j->partition, k ? "debug.1" : "gpu", "partition kept");
        j->id = 7;
        o = job_to_json(j);
        ok(json_is_boolean(json_object_get(o, "requeue")) &&
               json_is_true(json_object_get(o, "requeue")) == !k,
           "the document says requeue: %s", k ? "false" : "true");
        char *doc = json_dumps(o, JSON_COMPACT);
        job_t *back = NULL;
        gt_error_t e = {0};
        ok(job_from_doc(doc, &back, &e) == 0, "the document reads back");
        if (back) {
            is_int(back->requeue, j->requeue, "requeue read back");
            is_str(back->partition, j->partition, "partition read back");
        }
        job_t *c = job_clone(j);
        is_str(c->partition, j->partition, "a clone (an array task) keeps the partition");
        is_int(c->requeue, j->requeue, "and requeue");
        ok(c->partition != j->partition, "in its own copy");
        job_free(c);
        job_free(back);
        free(doc);
        json_decref(o);
        job_free(j);
    }
    refused("{'command': ['x'], 'requeue': 'yes'}", "'requeue' must be true");
    refused("{'command': ['x'], 'requeue': 1}", "'requeue' must be true");
    refused("{'command': ['x'], 'partition': ''}", "'partition' must be a partition's name");
    refused("{'command': ['x'], 'partition': 'a b'}", "'partition' must be");
    refused("{'command': ['x'], 'partition': 3}", "'partition' must be");
}

/* got holds needle (strstr), else the check fails and shows got. */
#define has(got, needle, ...)                                                               \
    do {                                                                                    \
        const char *h_ = (got);                                                             \
        ok(h_ && strstr(h_, needle) != NULL, __VA_ARGS__);                                  \
        if (!h_ || !strstr(h_, needle))                                                     \
            printf("#   got '%s', want it to hold '%s'\n", h_ ? h_ : "(null)", needle);     \
    } while (0)

/* The indices of s as "a,b,c" (or "refused: MESSAGE"), and its throttle. */
static const char *indices(const char *s, int *throttle)
{
    static char out[1200];
    job_array_t a = {0};
    gt_error_t e = {0};
    errno = 0;
    if (job_array_parse(s, &a, &e) < 0) {
        snprintf(out, sizeof(out), "refused%s: %s", errno == EINVAL ? "" : " (errno)", e.msg);
        *throttle = -1;
        return out;
    }
    size_t n = 0;
    out[0] = '\0';
    for (int64_t k = 0; k < a.count && n < sizeof(out) - 24; k++)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%lld", k ? "," : "",
                              (long long)a.index[k]);
    *throttle = a.throttle;
    job_array_free(&a);
    return out;
}

static void test_arrays(void)
{
    int th;
    /* Every form of Slurm's syntax. */
    is_str(indices("0-9", &th), "0,1,2,3,4,5,6,7,8,9", "a range");
    is_int(th, 0, "  no throttle");
    is_str(indices("5", &th), "5", "one index");
    is_str(indices("5-5", &th), "5", "a range of one");
    is_str(indices("007-010", &th), "7,8,9,10", "leading zeros");
    is_str(indices("1,3,5", &th), "1,3,5", "a list");
    is_str(indices("0-15:4", &th), "0,4,8,12", "a range with a step");
    is_str(indices("1-10:3", &th), "1,4,7,10", "a step that lands on the end");
    is_str(indices("1-9:4", &th), "1,5,9", "a step onto the end");
    is_str(indices("1-8:4", &th), "1,5", "a step past the end stops before it");
    is_str(indices("0-9%2", &th), "0,1,2,3,4,5,6,7,8,9", "a throttle");
    is_int(th, 2, "  throttle 2");
    is_str(indices("0-15:4,20,30-32%2", &th), "0,4,8,12,20,30,31,32",
           "the brief's example: steps, a single index, a range, a throttle");
    is_int(th, 2, "  its throttle");
    is_str(indices("30-32,0-1,20", &th), "0,1,20,30,31,32", "indices sorted");
    is_str(indices("2147483647", &th), "2147483647", "the largest index");
    is_str(indices("7%1", &th), "7", "throttle 1");
    is_int(th, 1, "  is 1");
    is_str(indices("0-9%10000", &th), "0,1,2,3,4,5,6,7,8,9", "throttle 10000");
    job_array_t a = {0};
    gt_error_t e = {0};
    ok(job_array_parse("100-10099", &a, &e) == 0 && a.count == 10000 && a.index[0] == 100 &&
           a.index[9999] == 10099,
       "an array of 10000 tasks");
    job_array_free(&a);
    ok(job_array_parse("0-19999:2", &a, &e) == 0 && a.count == 10000 && a.index[9999] == 19998,
       "10000 tasks through a step");
    job_array_free(&a);
    ok(a.index == NULL && a.count == 0, "job_array_free empties it");
    job_array_free(NULL);

    /* Errors: each says what is wrong. */
    has(indices("0-10000", &th), "refused: 'array' 0-10000 makes more than 10000 tasks",
        "10001 tasks");
    has(indices("0-9999,10000", &th), "more than 10000 tasks", "10001 tasks in a list");
    has(indices("0-4,3", &th), "refused: 'array' 0-4,3 names index 3 more than once",
        "an index twice (range and single)");
    has(indices("1,1", &th), "names index 1 more than once", "an index twice");
    has(indices("0-8:2,4-5", &th), "names index 4 more than once", "overlapping ranges");
    const char *bad_forms[] = {"9-0", "-1-3", "a-b", "0-9x", "", " 1-3", "1- 3", "1-3 ",
                               "+1-3", "1-+3", "1,,3", ",1", "1,", "0-9:0", "0-9:", "0-9:-1",
                               "0-9:x", "1:2", "0-2147483648", "2147483648",
                               "99999999999999999999-99999999999999999999", "0-9%", "%2",
                               "1-3%2,5", "1-3%2%3", "1-3 %2", "0x10", "1.5"};
    for (size_t i = 0; i < sizeof(bad_forms) / sizeof(bad_forms[0]); i++)
        has(indices(bad_forms[i], &th), "refused: 'array' ", "refused: '%s'", bad_forms[i]);
    has(indices("0-9%0", &th), "throttle after % must be a number of tasks from 1 to 10000",
        "throttle 0");
    has(indices("0-9%10001", &th), "from 1 to 10000", "throttle 10001");
    has(indices("0-9:0", &th), "'0-9:0' is not", "the message quotes the value");
    has(indices("1,,3", &th), "such as \"0-99\", \"1,3,5-9\", \"0-15:4\" or \"0-99%10\"",
        "the message shows the forms");

    /* Through a submission body. */
    job_t *j = parse("{'command':['x'],'array':'0-15:4,20,30-32%2'}");
    ok(j && arr.count == 8 && arr.index[4] == 20 && arr.throttle == 2 && j->array_count == 8 &&
           j->array_throttle == 2,
       "a submission's array: indices, count and throttle");
    job_free(j);
    refused("{'command':['x'],'array':'0-10000'}", "makes more than 10000 tasks");
    refused("{'command':['x'],'array':'1,1'}", "names index 1 more than once");
    refused("{'command':['x'],'array':9}", "'array' must be a string");
    refused("{'command':['x'],'array':[0,9]}", "'array' must be a string");
    refused("{'command':['x'],'array':''}", "'array' must be Slurm's form");

    /* References. */
    uint64_t id;
    int64_t index;
    ok(gt_job_ref_parse("12", &id, &index) == 0 && id == 12 && index == -1, "ref 12");
    ok(gt_job_ref_parse("12_3", &id, &index) == 0 && id == 12 && index == 3, "ref 12_3");
    ok(gt_job_ref_parse("12_0", &id, &index) == 0 && id == 12 && index == 0, "ref 12_0");
    const char *bad_refs[] = {"", "0", "012", "0_1", "12_", "_3", "12_3_4", "12-3", "12_x",
                              "-12", "12 ", "1_99999999999"};
    for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
        errno = 0;
        ok(gt_job_ref_parse(bad_refs[i], &id, &index) == -1 && errno == EINVAL, "bad ref '%s'",
           bad_refs[i]);
    }
}

static void test_dependencies(void)
{
    job_t *j = parse("{'command':['x'],'dependencies':[{'type':'afterok','job':3},"
                     "{'type':'afterany','job':'12_4'},{'type':'afternotok','job':'9'}],"
                     "'after_ok':[7]}");
    ok(j != NULL, "dependencies of each type, with after_ok: %s", err.msg);
    if (j) {
        is_int(json_array_size(j->dependencies), 4, "four");
        json_t *d = json_array_get(j->dependencies, 1);
        is_str(json_string_value(json_object_get(d, "type")), "afterany", "afterany kept");
        is_str(json_string_value(json_object_get(d, "job")), "12_4", "a task's reference kept");
        d = json_array_get(j->dependencies, 3);
        ok(!strcmp(json_string_value(json_object_get(d, "type")), "afterok") &&
               json_integer_value(json_object_get(d, "job")) == 7,
           "after_ok's id after them, as afterok");
    }
    job_free(j);
    j = parse("{'command':['x'],'name':'nightly','singleton':true}");
    ok(j && j->singleton, "singleton with a name");
    job_free(j);
    j = parse("{'command':['x'],'singleton':false}");
    ok(j && !j->singleton, "singleton false");
    job_free(j);
    refused("{'command':['x'],'singleton':true}", "'singleton' needs a 'name'");
    refused("{'command':['x'],'name':'n','singleton':'yes'}", "'singleton' must be true or false");
    refused("{'command':['x'],'dependencies':{'type':'afterok','job':3}}",
            "'dependencies' must be an array of {type, job}");
    const char *bad[] = {
        "[{'type':'after','job':3}]",        "[{'type':'afterok'}]",
        "[{'job':3}]",                       "[{'type':'afterok','job':0}]",
        "[{'type':'afterok','job':-3}]",     "[{'type':'afterok','job':1.5}]",
        "[{'type':'afterok','job':'12_'}]",  "[{'type':'afterok','job':'x'}]",
        "[{'type':'AFTEROK','job':3}]",      "[{'type':'afterok','job':3,'x':1}]",
        "[3]",                               "[{'type':'singleton','job':3}]",
        "[{'type':'aftercorr','job':3}]",    "[{'type':7,'job':3}]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[200];
        snprintf(text, sizeof(text), "{'command':['x'],'dependencies':%s}", bad[i]);
        refused(text, "'dependencies' must hold only {type, job}");
    }

    /* The document keeps them; one from before dependencies reads after_ok back. */
    j = parse("{'command':['x'],'name':'n','singleton':true,'array':'1-4%3',"
              "'dependencies':[{'type':'afternotok','job':'5_2'}]}");
    ok(j != NULL, "a singleton array with a dependency: %s", err.msg);
    if (j) {
        j->id = 9;
        j->array_id = 9;
        j->array_index = 1;
        json_t *o = job_to_json(j);
        char *doc = json_dumps(o, JSON_COMPACT);
        job_t *r = NULL;
        ok(job_from_doc(doc, &r, &err) == 0 && r->singleton && r->array_count == 4 &&
               r->array_throttle == 3 && json_equal(r->dependencies, j->dependencies),
           "singleton, array count, throttle and dependencies read back");
        job_free(r);
        free(doc);
        json_decref(o);
    }
    job_free(j);
    job_t *r = NULL;
    ok(job_from_doc("{\"id\":7,\"state\":\"pending\",\"team\":\"t\",\"after_ok\":[3,4]}", &r,
                    &err) == 0 &&
           json_array_size(r->dependencies) == 2 &&
           json_integer_value(json_object_get(json_array_get(r->dependencies, 1), "job")) == 4 &&
           !strcmp(json_string_value(json_object_get(json_array_get(r->dependencies, 1),
                                                     "type")),
                   "afterok"),
       "a stored document's after_ok reads back as afterok dependencies");
    job_free(r);
}

int main(void)
{
    test_requeue_partition();
    test_environment();
    test_minimal();
    test_sizes();
    test_fields();
    test_refusals();
    test_json();
    test_resubmit();
    test_clone();
    test_states();
    test_arrays();
    test_dependencies();
    job_array_free(&arr);
    return tap_done();
}
