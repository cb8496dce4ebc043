/* test_trace.c: the trace readers (src/sim/trace*.c) on small inline files and on the slices
 * of the real traces in tests/data. */
#include <errno.h>
#include <stdlib.h>

#include "sim/trace.h"
#include "tap.h"

static gt_trace_t *parse(const char *text, const char *format, gt_error_t *err)
{
    gt_trace_t *t = NULL;
    memset(err, 0, sizeof(*err));
    errno = 0;
    if (gt_trace_parse(text, strlen(text), format, &t, err) < 0)
        return NULL;
    return t;
}

static void fails(const char *text, const char *format, const char *frag1, const char *frag2,
                  const char *what)
{
    gt_error_t err;
    gt_trace_t *t = parse(text, format, &err);
    int e = errno;
    ok(t == NULL && e == EINVAL, "%s: rejected with EINVAL", what);
    ok(strstr(err.msg, frag1) && (!frag2 || strstr(err.msg, frag2)),
       "%s: message '%s' names '%s'%s%s", what, err.msg, frag1, frag2 ? " and " : "",
       frag2 ? frag2 : "");
    gt_trace_free(t);
}

static void test_csv(void)
{
    gt_error_t err;
    gt_trace_t *t = parse("id,submit,team,gpus,duration\n"
                          "a,100,red,8,3600\n"
                          "b,50,blue,1,2h\n"
                          "\n"
                          "c,100,red,16,60\r\n",
                          NULL, &err);
    ok(t != NULL, "minimal csv parses: %s", err.msg);
    if (t) {
        is_str(t->format, "csv", "format guessed");
        is_int(t->njobs, 3, "three jobs (blank line skipped)");
        is_str(t->jobs[0].id, "b", "sorted by submit");
        is_int(t->jobs[0].duration, 7200, "duration with a unit");
        is_str(t->jobs[1].id, "a", "ties keep file order (a)");
        is_str(t->jobs[2].id, "c", "ties keep file order (c)");
        is_int(t->jobs[1].gpus_milli, 8000, "whole GPUs in milli");
        is_int(t->jobs[1].line, 2, "line of the job");
        is_int(t->jobs[2].line, 5, "line counts blank lines; CRLF stripped");
        is_int(t->jobs[1].nodes, 0, "nodes default 0 (scheduler chooses)");
        ok(t->jobs[1].user == NULL && t->jobs[1].priority == NULL && !t->jobs[1].gpu_types,
           "optional fields NULL");
        is_int(t->nskipped, 0, "nothing skipped");
    }
    gt_trace_free(t);

    t = parse("duration,team,id,gpus,submit,gpu_milli,gpu_type,priority,user,nodes,cpu_milli,"
              "memory_mib,time_limit\n"
              "600,red,f,0,5,250,\"T4|A10\",high,ann,,500,2048,1h\n"
              "600,red,g,16,6,,,,,2,32000,,\n"
              "600,red,h,1,7,500,,,,,,,\n",
              "csv", &err);
    ok(t != NULL, "every optional column, any order: %s", err.msg);
    if (t) {
        is_int(t->jobs[0].gpus_milli, 250, "gpus 0 with gpu_milli: a fraction");
        is_str(t->jobs[0].gpu_types, "T4|A10", "quoted gpu_type list");
        is_str(t->jobs[0].priority, "high", "priority");
        is_str(t->jobs[0].user, "ann", "user");
        is_int(t->jobs[0].cpus_milli, 500, "cpu_milli");
        is_int(t->jobs[0].memory_mib, 2048, "memory_mib");
        is_int(t->jobs[0].time_limit, 3600, "time_limit");
        is_int(t->jobs[1].nodes, 2, "nodes");
        is_int(t->jobs[1].gpus_milli, 16000, "empty gpu_milli: whole GPUs");
        is_int(t->jobs[2].gpus_milli, 500, "gpus 1 with gpu_milli 500: a fraction");
    }
    gt_trace_free(t);

    const char *h = "id,submit,team,gpus,duration\n";
    char buf[512];
#define ROW(r) (snprintf(buf, sizeof(buf), "%s%s", h, r), buf)
    fails(ROW("a,1,red,0,60\n"), NULL, "line 2, column gpus", "gpu_milli",
          "zero GPUs without gpu_milli");
    fails(ROW("a,x,red,1,60\n"), NULL, "line 2, column submit", "'x'", "bad submit");
    fails(ROW("a,-1,red,1,60\n"), NULL, "line 2, column submit", NULL, "negative submit");
    fails(ROW("a,1,red,1,soon\n"), NULL, "line 2, column duration", "90s", "bad duration");
    fails(ROW("a,1,red,1\n"), NULL, "line 2 has 4 fields", "header has 5", "short row");
    fails(ROW(",1,red,1,60\n"), NULL, "line 2, column id", "empty", "empty id");
    fails(ROW("a,1,,1,60\n"), NULL, "line 2, column team", "empty", "empty team");
    fails(ROW("a,1,red,2.5,60\n"), NULL, "line 2, column gpus", NULL, "fractional gpus");
    fails(ROW("a,1,red,\"1,60\n"), NULL, "line 2", "quote", "unterminated quote");
    fails("id,submit,team,gpus,duration,gpu_milli\nb,1,red,2,60,500\n", NULL,
          "line 2, column gpu_milli", "fraction of one GPU", "fraction of several GPUs");
    fails("id,submit,team,gpus\na,1,red,1\n", NULL, "line 1", "no column duration",
          "missing required column");
    fails("id,submit,team,gpus,duration,colour\n", NULL, "line 1", "unknown column 'colour'",
          "unknown column");
    fails("id,submit,team,gpus,duration,id\n", NULL, "line 1", "twice", "duplicate column");
    fails("", NULL, "empty", NULL, "empty file");
    fails("id,submit,team,gpus,duration\n", "parquet", "unknown trace format", NULL,
          "unknown format");
    fails("sn,cpu_milli,memory_mib,gpu,model\nn1,1,1,1,T4\n", NULL, "node list", NULL,
          "node list given as a trace");
    char nul[] = "id,submit,team,gpus,duration\na,1,r\0d,1,60\n";
    gt_trace_t *tn = NULL;
    gt_error_t e2 = {0};
    ok(gt_trace_parse(nul, sizeof(nul) - 1, NULL, &tn, &e2) == -1 && strstr(e2.msg, "NUL"),
       "NUL byte rejected: %s", e2.msg);
#undef ROW
}

static const char *pods =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n"
    "p0,12000,16384,1,1000,,LS,Running,0,100,10\n"
    "p1,6000,12288,1,460,V100M16|V100M32,BE,Running,5,50,5\n"
    "p2,4000,8192,0,0,,LS,Running,6,60,6\n"
    "p3,8000,30517,1,320,,BE,Pending,7,20,\n"
    "p4,64000,262144,8,1000,,Burstable,Succeeded,3,1003,4\n";

static void test_alibaba(void)
{
    gt_error_t err;
    gt_trace_t *t = parse(pods, NULL, &err);
    ok(t != NULL, "alibaba pods parse: %s", err.msg);
    if (t) {
        is_str(t->format, "alibaba-openb", "format guessed");
        is_int(t->njobs, 4, "four tasks that ran, the CPU-only one included");
        is_int(t->nskipped, 1, "one skipped");
        is_str(t->skipped, "1 tasks never scheduled", "why skipped");
        is_int(t->npool, 1, "the task never scheduled is kept for sampling");
        is_str(t->jobs[0].id, "p0", "sorted by creation_time");
        is_str(t->jobs[0].team, "LS", "team is qos");
        is_int(t->jobs[0].duration, 90, "duration = deletion - scheduled");
        is_int(t->jobs[0].gpus_milli, 1000, "one whole GPU");
        is_int(t->jobs[0].nodes, 1, "one node");
        is_int(t->jobs[0].cpus_milli, 12000, "cpu_milli");
        is_int(t->jobs[0].memory_mib, 16384, "memory_mib");
        is_str(t->jobs[1].id, "p4", "p4 second (created at 3)");
        is_int(t->jobs[1].gpus_milli, 8000, "8 whole GPUs");
        is_int(t->jobs[2].gpus_milli, 460, "a fraction of one GPU");
        is_str(t->jobs[2].gpu_types, "V100M16|V100M32", "gpu_spec kept");
        is_str(t->jobs[3].id, "p2", "the CPU-only task read");
        is_int(t->jobs[3].gpus_milli, 0, "gpus 0: CPU-only");
        is_int(t->jobs[3].cpus_milli, 4000, "its CPUs");
        ok(t->jobs[0].gpu_types == NULL, "empty gpu_spec: any type");
    }
    gt_trace_free(t);
    char buf[1024];
    const char *h = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
                    "creation_time,deletion_time,scheduled_time\n";
#define ROW(r) (snprintf(buf, sizeof(buf), "%s%s", h, r), buf)
    fails(ROW("p,1,1,1,1000,,LS,Running,0,5,10\n"), NULL, "line 2, column deletion_time",
          "before", "ends before it starts");
    fails(ROW("p,1,1,x,1000,,LS,Running,0,5,1\n"), NULL, "line 2, column num_gpu", "'x'",
          "bad num_gpu");
    fails(ROW("p,1,1,1,1500,,LS,Running,0,5,1\n"), NULL, "line 2, column gpu_milli", NULL,
          "gpu_milli above 1000");
    fails(ROW("p,1,1,1,1000,,,Running,0,5,1\n"), NULL, "line 2, column qos", "LS",
          "empty qos");
    fails(ROW("p,1,1,1,1000,,LS,Running,zero,5,1\n"), NULL, "line 2, column creation_time",
          NULL, "bad creation_time");
    fails("name,num_gpu,qos\np,1,LS\n", "alibaba-openb", "line 1", "gpu_milli",
          "missing column");
#undef ROW
}

static const char *sacct =
    "JobID|User|Account|Submit|Start|End|AllocTRES|Timelimit|State\n"
    "100|ann|vision|2024-05-01T10:00:00|2024-05-01T10:05:00|2024-05-01T12:05:00|"
    "billing=16,cpu=16,gres/gpu=2,mem=64G,node=1|04:00:00|COMPLETED\n"
    "100.batch|ann|vision|2024-05-01T10:00:00|2024-05-01T10:05:00|2024-05-01T12:05:00|"
    "cpu=16,gres/gpu=2,mem=64G,node=1||COMPLETED\n"
    "101|bob||2024-05-01T09:00:00|2024-05-01T09:00:10|2024-05-02T09:00:10|"
    "billing=64,cpu=64,gres/gpu:a100=16,gres/gpu=16,mem=1T,node=2|1-00:00:00|TIMEOUT\n"
    "102|cy|nlp|2024-05-01T11:00:00|2024-05-01T11:00:00|Unknown|cpu=8,gres/gpu=1,node=1|"
    "UNLIMITED|RUNNING\n"
    "103|cy|nlp|2024-05-01T11:00:00|None|Unknown||UNLIMITED|PENDING\n"
    "104|dee|nlp|2024-05-01T11:30:00|2024-05-01T11:30:00|2024-05-01T11:40:00|"
    "billing=4,cpu=4,mem=8G,node=1|30|COMPLETED\n"
    "105|eve|nlp|2024-05-01T12:00:00|2024-05-01T12:00:00|2024-05-01T12:01:00|"
    "cpu=2,gres/gpu=1,node=1|2-12|COMPLETED\n";

static void test_sacct(void)
{
    gt_error_t err;
    gt_trace_t *t = parse(sacct, NULL, &err);
    ok(t != NULL, "sacct parses: %s", err.msg);
    if (t) {
        is_str(t->format, "slurm-sacct", "format guessed from JobID and '|'");
        is_int(t->njobs, 3, "three finished GPU allocations");
        is_int(t->nskipped, 4, "a step, a pending, a running and a CPU-only job skipped");
        ok(strstr(t->skipped, "1 jobs still running") != NULL, "running counted: %s",
           t->skipped);
        is_str(t->jobs[0].id, "101", "earliest submit first");
        is_int(t->jobs[0].submit, 0, "submit relative to the earliest");
        is_str(t->jobs[0].team, "default", "empty Account: team default");
        is_int(t->jobs[0].gpus_milli, 16000, "gres/gpu total");
        is_int(t->jobs[0].nodes, 2, "node=2");
        is_int(t->jobs[0].cpus_milli, 32000, "cpus per node");
        is_int(t->jobs[0].memory_mib, 512 * 1024, "memory per node");
        is_str(t->jobs[0].gpu_types, "a100", "typed gres gives the GPU type");
        is_int(t->jobs[0].duration, 86400, "duration End - Start");
        is_int(t->jobs[0].time_limit, 86400, "1-00:00:00");
        is_str(t->jobs[1].id, "100", "second");
        is_int(t->jobs[1].submit, 3600, "an hour after the first");
        is_str(t->jobs[1].team, "vision", "Account is the team");
        is_str(t->jobs[1].user, "ann", "user");
        is_int(t->jobs[1].time_limit, 4 * 3600, "04:00:00");
        is_int(t->jobs[1].memory_mib, 65536, "64G");
        is_int(t->jobs[2].time_limit, 2 * 86400 + 12 * 3600, "days-hours");
    }
    gt_trace_free(t);
    char buf[1024];
    const char *h = "JobID|Account|Submit|Start|End|AllocTRES|Timelimit\n";
#define ROW(r) (snprintf(buf, sizeof(buf), "%s%s", h, r), buf)
    fails(ROW("1|a|2024-05-01 10:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=1|1\n"),
          NULL, "line 2, column Submit", "2024-05-01T10:00:00", "bad submit time");
    fails(ROW("1|a|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T09:00:00|gres/gpu=1|1\n"),
          NULL, "line 2, column End", "before", "end before start");
    fails(ROW("1|a|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=1|"
              "forever\n"),
          NULL, "line 2, column Timelimit", "UNLIMITED", "bad time limit");
    fails(ROW("1|a|2024-05-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=two|"
              "1\n"),
          NULL, "line 2, column AllocTRES", "gres/gpu=two", "bad TRES");
    fails(ROW("1|a|2024-13-01T10:00:00|2024-05-01T10:00:00|2024-05-01T11:00:00|gres/gpu=1|1\n"),
          NULL, "line 2, column Submit", NULL, "month 13");
    fails(ROW("1|a|2024-05-01T10:00:00\n"), NULL, "line 2 has 3 fields", NULL, "short row");
    fails("JobID|Submit|Start|End\n", "slurm-sacct", "line 1", "AllocTRES", "missing column");
#undef ROW
}

static void test_nodes(void)
{
    gt_config_t cfg = {0};
    gt_error_t err = {0};
    const char *text = "sn,cpu_milli,memory_mib,gpu,model\n"
                       "n0,64000,262144,2,P100\n"
                       "n1,96000,786432,8,G2\n";
    ok(gt_nodes_parse(text, strlen(text), NULL, &cfg, &err) == 0, "node list parses: %s",
       err.msg);
    is_int(cfg.nnodes, 2, "two nodes");
    if (cfg.nnodes == 2) {
        is_str(cfg.nodes[1].name, "n1", "name from sn");
        is_str(cfg.nodes[1].gpu_type, "G2", "type from model");
        is_int(cfg.nodes[1].gpus, 8, "gpus");
        is_int(cfg.nodes[1].cpus_milli, 96000, "cpu_milli");
        is_int(cfg.nodes[1].memory_mib, 786432, "memory_mib");
    }
    const char *bad = "sn,cpu_milli,memory_mib,gpu,model\nn2,1,1,65,T4\n";
    errno = 0;
    ok(gt_nodes_parse(bad, strlen(bad), NULL, &cfg, &err) == -1 && errno == EINVAL &&
           strstr(err.msg, "line 2, column gpu"),
       "too many GPUs: %s", err.msg);
    is_int(cfg.nnodes, 2, "a failed load leaves cfg unchanged");
    bad = "sn,cpu_milli,memory_mib,gpu,model\nn2,1,1,4,\n";
    ok(gt_nodes_parse(bad, strlen(bad), NULL, &cfg, &err) == -1 &&
           strstr(err.msg, "line 2, column model"),
       "GPUs without a model: %s", err.msg);
    bad = "name,gpus\nn2,4\n";
    ok(gt_nodes_parse(bad, strlen(bad), NULL, &cfg, &err) == -1 && strstr(err.msg, "line 1"),
       "unknown header: %s", err.msg);
    ok(gt_nodes_parse(text, strlen(text), "slurm", &cfg, &err) == -1, "unknown node format");
    for (size_t i = 0; i < cfg.nnodes; i++) {
        free(cfg.nodes[i].name);
        free(cfg.nodes[i].gpu_type);
    }
    free(cfg.nodes);
}

static void test_files(void)
{
    const char *root = getenv("GANTRY_ROOT");
    char path[1024];
    gt_error_t err = {0};
    gt_trace_t *t = NULL;
    snprintf(path, sizeof(path), "%s/tests/data/philly-head200.csv", root ? root : ".");
    ok(gt_trace_load(path, NULL, &t, &err) == 0, "philly slice loads: %s", err.msg);
    if (t) {
        is_int(t->njobs, 200, "200 jobs");
        is_str(t->jobs[0].team, "vc-0e4a51", "first job's team");
        is_int(t->jobs[0].duration, 17466, "first job's duration");
    }
    gt_trace_free(t);
    t = NULL;
    snprintf(path, sizeof(path), "%s/tests/data/openb-pods-head200.csv", root ? root : ".");
    ok(gt_trace_load(path, NULL, &t, &err) == 0, "openb slice loads: %s", err.msg);
    if (t) {
        is_int(t->njobs + t->nskipped, 200, "every row a job or counted as skipped");
        ok(t->njobs > 100, "most rows are jobs (%zu; skipped: %s)", t->njobs, t->skipped);
        ok(t->jobs[0].submit <= t->jobs[t->njobs - 1].submit, "sorted");
    }
    gt_trace_free(t);
    gt_config_t cfg = {0};
    snprintf(path, sizeof(path), "%s/tests/data/openb-nodes-head200.csv", root ? root : ".");
    ok(gt_nodes_load(path, "alibaba-openb", &cfg, &err) == 0, "openb node slice loads: %s",
       err.msg);
    is_int(cfg.nnodes, 200, "200 nodes");
    for (size_t i = 0; i < cfg.nnodes; i++) {
        free(cfg.nodes[i].name);
        free(cfg.nodes[i].gpu_type);
    }
    free(cfg.nodes);
    /* the full traces shipped in data/traces */
    t = NULL;
    snprintf(path, sizeof(path), "%s/data/traces/philly-vc-seed0.csv", root ? root : ".");
    ok(gt_trace_load(path, NULL, &t, &err) == 0, "full philly trace loads: %s", err.msg);
    if (t)
        is_int(t->njobs, 15264, "15,264 philly jobs");
    gt_trace_free(t);
    t = NULL;
    snprintf(path, sizeof(path), "%s/data/traces/alibaba-openb/openb_pod_list_default.csv",
             root ? root : ".");
    ok(gt_trace_load(path, NULL, &t, &err) == 0, "full openb pod list loads: %s", err.msg);
    if (t) {
        is_int(t->njobs + t->nskipped, 8152, "8,152 tasks read");
        is_str(t->skipped, "897 tasks never scheduled", "skips (CPU-only tasks are read)");
        is_int(t->njobs + t->npool, 8152, "every task is in the sampling population");
    }
    gt_trace_free(t);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(path, sizeof(path), "%s/data/traces/alibaba-openb/openb_node_list_gpu_node.csv",
             root ? root : ".");
    ok(gt_nodes_load(path, NULL, &cfg, &err) == 0, "full openb node list loads: %s", err.msg);
    int64_t gpus = 0;
    for (size_t i = 0; i < cfg.nnodes; i++) {
        gpus += cfg.nodes[i].gpus;
        free(cfg.nodes[i].name);
        free(cfg.nodes[i].gpu_type);
    }
    free(cfg.nodes);
    is_int(gpus, 6212, "6,212 GPUs");
    t = NULL;
    errno = 0;
    ok(gt_trace_load("/nonexistent/trace.csv", NULL, &t, &err) == -1 && errno == ENOENT,
       "missing file: ENOENT");
    snprintf(path, sizeof(path), "%s/tests/data/philly-head200.csv", root ? root : ".");
    ok(gt_trace_load(path, "slurm-sacct", &t, &err) == -1 && strstr(err.msg, path) &&
           strstr(err.msg, "JobID"),
       "wrong format named: message names the file and the column: %s", err.msg);
}

int main(void)
{
    test_csv();
    test_alibaba();
    test_sacct();
    test_nodes();
    test_files();
    return tap_done();
}
