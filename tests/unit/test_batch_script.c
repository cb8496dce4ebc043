/* test_batch_script.c: sbatch directives and options as job fields (src/cli/batch_script.c). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/batch_script.h"
#include "cli/client.h"
#include "tap.h"

/* The fields text's directives give, finished, as compact JSON with sorted keys (a new string),
 * or NULL with err. */
static char *fields_of(const char *text, gt_error_t *err)
{
    batch_t b;
    batch_init(&b);
    memset(err, 0, sizeof(*err));
    char *out = NULL;
    if (batch_script_parse(&b, text, strlen(text), NULL, err) == 0 && batch_finish(&b, err) == 0)
        out = json_dumps(b.fields, JSON_COMPACT | JSON_SORT_KEYS);
    batch_free(&b);
    return out;
}

/* One script's fields must be want (compact JSON, sorted keys). */
static void gives(const char *text, const char *want, const char *what)
{
    gt_error_t err;
    char *got = fields_of(text, &err);
    is_str(got, want, "%s", what);
    if (!got)
        diag("error: %s", err.msg);
    free(got);
}

/* One script must be refused with EINVAL and a message holding frag1 and frag2. */
static void refused(const char *text, const char *frag1, const char *frag2, const char *what)
{
    gt_error_t err;
    errno = 0;
    char *got = fields_of(text, &err);
    int e = errno;
    ok(got == NULL && e == EINVAL, "%s: refused with EINVAL (got %s)", what, got ? got : "-");
    ok(strstr(err.msg, frag1) && (!frag2 || strstr(err.msg, frag2)),
       "%s: message '%s' names '%s'%s%s", what, err.msg, frag1, frag2 ? " and " : "",
       frag2 ? frag2 : "");
    free(got);
}

static int64_t secs(const char *s)
{
    int64_t t = -1;
    gt_error_t err = {0};
    if (batch_time(s, &t, &err) < 0)
        return -1;
    return t;
}

static void test_time_formats(void)
{
    is_int(secs("90"), 90 * 60, "M: 90 is minutes");
    is_int(secs("5:30"), 5 * 60 + 30, "M:S");
    is_int(secs("1:02:03"), 3723, "H:M:S");
    is_int(secs("2-3"), 2 * 86400 + 3 * 3600, "D-H");
    is_int(secs("2-3:04"), 2 * 86400 + 3 * 3600 + 4 * 60, "D-H:M");
    is_int(secs("2-3:04:05"), 2 * 86400 + 3 * 3600 + 4 * 60 + 5, "D-H:M:S");
    is_int(secs("0-0:0:1"), 1, "D-H:M:S with zeros");
    is_int(secs("UNLIMITED"), 0, "UNLIMITED is no limit (0)");
    is_int(secs("infinite"), 0, "infinite is no limit (0)");
    is_int(secs("Infinite"), 0, "INFINITE in any case");
    is_int(secs("4h"), 4 * 3600, "gantry's 4h");
    is_int(secs("1h30m"), 5400, "gantry's 1h30m");
    is_int(secs(""), -1, "empty refused");
    is_int(secs("1:2:3:4"), -1, "four parts refused");
    is_int(secs("1-2-3"), -1, "two dashes refused");
    is_int(secs("1:"), -1, "a trailing ':' refused");
    is_int(secs(":5"), -1, "a leading ':' refused");
    is_int(secs("-5"), -1, "a leading '-' refused");
    is_int(secs("1.5"), -1, "a fraction refused");
    is_int(secs("ten"), -1, "a word refused");
    gt_error_t err = {0};
    int64_t t;
    errno = 0;
    ok(batch_time("x:1", &t, &err) < 0 && errno == EINVAL, "a bad time: EINVAL");
    ok(strstr(err.msg, "D-H:M:S") != NULL, "the message lists the formats: %s", err.msg);
}

static int64_t mib(const char *s)
{
    int64_t m = -1;
    gt_error_t err = {0};
    if (batch_memory(s, &m, &err) < 0)
        return -1;
    return m;
}

static void test_memory_units(void)
{
    is_int(mib("4000"), 4000, "no unit: MiB");
    is_int(mib("4000M"), 4000, "M");
    is_int(mib("64G"), 65536, "G");
    is_int(mib("64g"), 65536, "g");
    is_int(mib("2T"), 2 * 1024 * 1024, "T");
    is_int(mib("2048K"), 2, "K");
    is_int(mib("1K"), 1, "K rounded up to a whole MiB");
    is_int(mib("16GB"), 16384, "GB read as G");
    is_int(mib("0"), 0, "0 (all of the node's, as for sbatch: no limit asked)");
    is_int(mib("1.5G"), -1, "a fraction refused");
    is_int(mib("12X"), -1, "an unknown unit refused");
    is_int(mib("G"), -1, "a unit alone refused");
    is_int(mib(""), -1, "empty refused");
}

static void test_directives(void)
{
    gives("#!/bin/bash\n#SBATCH -J train\n", "{\"name\":\"train\"}", "-J NAME");
    gives("#!/bin/bash\n#SBATCH -Jtrain\n", "{\"name\":\"train\"}", "-JNAME (glued)");
    gives("#!/bin/bash\n#SBATCH --job-name=train\n", "{\"name\":\"train\"}", "--job-name=NAME");
    gives("#!/bin/bash\n#SBATCH --job-name train\n", "{\"name\":\"train\"}", "--job-name NAME");
    gives("#!/bin/bash\n#SBATCH --job-name=\"my-run\"\n", "{\"name\":\"my-run\"}",
          "a quoted value");
    gives("#!/bin/bash\n#SBATCH -G 2\n", "{\"gpus\":2}", "-G N");
    gives("#!/bin/bash\n#SBATCH --gpus=h100:4\n", "{\"gpu_type\":[\"h100\"],\"gpus\":4}",
          "--gpus=TYPE:N");
    gives("#!/bin/bash\n#SBATCH --gres=gpu:2\n", "{\"gpus\":2,\"nodes\":1}",
          "--gres=gpu:N is per node (one node when -N is not given)");
    gives("#!/bin/bash\n#SBATCH --gres=gpu:a100:2\n#SBATCH -N 3\n",
          "{\"gpu_type\":[\"a100\"],\"gpus\":6,\"nodes\":3}", "--gres=gpu:TYPE:N x -N");
    gives("#!/bin/bash\n#SBATCH --gres=gpu\n", "{\"gpus\":1,\"nodes\":1}", "--gres=gpu: one");
    gives("#!/bin/bash\n#SBATCH --gres=gpu:a100\n", "{\"gpu_type\":[\"a100\"],\"gpus\":1,"
          "\"nodes\":1}", "--gres=gpu:TYPE: one of TYPE");
    gives("#!/bin/bash\n#SBATCH -N 2 --gpus-per-node=4\n", "{\"gpus\":8,\"nodes\":2}",
          "-N and --gpus-per-node on one line: gpus = nodes x per node");
    gives("#!/bin/bash\n#SBATCH --gpus-per-node=4\n#SBATCH -N 2\n", "{\"gpus\":8,\"nodes\":2}",
          "--gpus-per-node before -N");
    gives("#!/bin/bash\n#SBATCH --gpus-per-node=4\n#SBATCH -G 3\n", "{\"gpus\":3}",
          "a later --gpus replaces --gpus-per-node");
    gives("#!/bin/bash\n#SBATCH -N 2\n", "{\"nodes\":2}", "-N N");
    gives("#!/bin/bash\n#SBATCH --nodes=4\n", "{\"nodes\":4}", "--nodes=N");
    gives("#!/bin/bash\n#SBATCH -t 90\n", "{\"time_limit\":5400}", "-t M");
    gives("#!/bin/bash\n#SBATCH --time=1-12:00:00\n", "{\"time_limit\":129600}",
          "--time=D-H:M:S");
    gives("#!/bin/bash\n#SBATCH --time=UNLIMITED\n", "{\"time_limit\":0}", "--time=UNLIMITED");
    gives("#!/bin/bash\n#SBATCH --mem=64G\n", "{\"memory\":65536}", "--mem=64G");
    gives("#!/bin/bash\n#SBATCH --mem=500\n", "{\"memory\":500}", "--mem without a unit: MiB");
    gives("#!/bin/bash\n#SBATCH --mem-per-gpu=10G\n#SBATCH -G 4\n#SBATCH -N 2\n",
          "{\"gpus\":4,\"memory\":20480,\"nodes\":2}",
          "--mem-per-gpu x GPUs per node (4 over 2 nodes)");
    gives("#!/bin/bash\n#SBATCH --mem-per-gpu=10G --gpus-per-node=3\n",
          "{\"gpus\":3,\"memory\":30720,\"nodes\":1}", "--mem-per-gpu x --gpus-per-node");
    gives("#!/bin/bash\n#SBATCH --mem-per-gpu=1G\n", "{\"memory\":1024}",
          "--mem-per-gpu with gantry's default of one GPU");
    gives("#!/bin/bash\n#SBATCH --mem-per-gpu=1G\n#SBATCH --mem=3G\n", "{\"memory\":3072}",
          "a later --mem replaces --mem-per-gpu");
    gives("#!/bin/bash\n#SBATCH -c 8\n", "{\"cpus\":8}", "-c N");
    gives("#!/bin/bash\n#SBATCH --cpus-per-task=16\n", "{\"cpus\":16}", "--cpus-per-task=N");
    gives("#!/bin/bash\n#SBATCH -A research\n", "{\"team\":\"research\"}", "-A is the team");
    gives("#!/bin/bash\n#SBATCH --account=vision\n", "{\"team\":\"vision\"}", "--account");
    gives("#!/bin/bash\n#SBATCH --qos=production\n", "{\"priority_class\":\"production\"}",
          "--qos is the priority class");
    gives("#!/bin/bash\n#SBATCH -q normal\n", "{\"priority_class\":\"normal\"}", "-q");
    gives("#!/bin/bash\n#SBATCH -p gpu\n", "{\"partition\":\"gpu\"}", "-p is the partition");
    gives("#!/bin/bash\n#SBATCH --partition=debug\n", "{\"partition\":\"debug\"}",
          "--partition");
    gives("#!/bin/bash\n#SBATCH --array=0-15:2,20,40-42%4\n",
          "{\"array\":\"0-15:2,20,40-42%4\"}", "--array is kept as written");
    gives("#!/bin/bash\n#SBATCH -a 1-3\n", "{\"array\":\"1-3\"}", "-a");
    gives("#!/bin/bash\n#SBATCH --dependency=afterok:12:13,afterany:14,afternotok:15_2\n",
          "{\"dependencies\":[{\"job\":12,\"type\":\"afterok\"},{\"job\":13,\"type\":"
          "\"afterok\"},{\"job\":14,\"type\":\"afterany\"},{\"job\":\"15_2\",\"type\":"
          "\"afternotok\"}]}",
          "--dependency: afterok with two ids, afterany, afternotok on an array task");
    gives("#!/bin/bash\n#SBATCH -d singleton\n", "{\"singleton\":true}", "singleton");
    gives("#!/bin/bash\n#SBATCH -d afterok:3,singleton\n",
          "{\"dependencies\":[{\"job\":3,\"type\":\"afterok\"}],\"singleton\":true}",
          "afterok and singleton together");
    gives("#!/bin/bash\n#SBATCH -d afterok:3\n#SBATCH -d singleton\n", "{\"singleton\":true}",
          "a later --dependency replaces the earlier one");
    gives("#!/bin/bash\n#SBATCH -o slurm-%j.out\n#SBATCH -e err-%x-%A_%a.txt\n",
          "{\"error\":\"err-%x-%A_%a.txt\",\"output\":\"slurm-%j.out\"}",
          "-o/-e: output and error, patterns kept as written");
    gives("#!/bin/bash\n#SBATCH --output=o.%N --error=e.%u\n",
          "{\"error\":\"e.%u\",\"output\":\"o.%N\"}", "--output/--error");
    gives("#!/bin/bash\n#SBATCH -D /data/run\n", "{\"workdir\":\"/data/run\"}", "-D /abs");
    gives("#!/bin/bash\n#SBATCH --signal=B:USR1@120\n",
          "{\"checkpoint\":{\"grace\":120,\"signal\":\"SIGUSR1\"}}", "--signal=B:USR1@120");
    gives("#!/bin/bash\n#SBATCH --signal=SIGTERM\n",
          "{\"checkpoint\":{\"grace\":60,\"signal\":\"SIGTERM\"}}",
          "--signal without @: 60 s, as sbatch");
    gives("#!/bin/bash\n#SBATCH --signal=12@30\n",
          "{\"checkpoint\":{\"grace\":30,\"signal\":\"SIGUSR2\"}}", "--signal by number");
    gives("#!/bin/bash\n#SBATCH --requeue\n", "{\"requeue\":true}", "--requeue");
    gives("#!/bin/bash\n#SBATCH --no-requeue\n", "{\"requeue\":false}", "--no-requeue");
    gives("#!/bin/bash\n#SBATCH -H\n", "{\"hold\":true}", "-H");
    gives("#!/bin/bash\n#SBATCH --hold\n", "{\"hold\":true}", "--hold");
    gives("#!/bin/bash\n#SBATCH --export=NONE\n", "{\"env\":{}}", "--export=NONE");
    gives("#!/bin/bash\n#SBATCH --export=A=1,B=two\n", "{\"env\":{\"A\":\"1\",\"B\":\"two\"}}",
          "--export=NAME=VALUE,...");
    setenv("BATCH_TEST_VAR", "from-here", 1);
    gives("#!/bin/bash\n#SBATCH --export=BATCH_TEST_VAR,BATCH_TEST_UNSET_VAR\n",
          "{\"env\":{\"BATCH_TEST_VAR\":\"from-here\"}}",
          "--export=NAME takes this environment's value; an unset one is skipped");
    {
        setenv("GANTRY_TOKEN", "gt_secret", 1);
        setenv("SLURM_JOB_ID", "7", 1);
        batch_t b;
        gt_error_t err = {0};
        batch_init(&b);
        const char *t = "#!/bin/bash\n#SBATCH --export=ALL,EXTRA=1\n";
        ok(batch_script_parse(&b, t, strlen(t), NULL, &err) == 0, "--export=ALL parses");
        json_t *env = json_object_get(b.fields, "env");
        is_str(json_string_value(json_object_get(env, "BATCH_TEST_VAR")), "from-here",
               "--export=ALL copies this environment");
        is_str(json_string_value(json_object_get(env, "EXTRA")), "1", "and adds EXTRA=1");
        ok(!json_object_get(env, "GANTRY_TOKEN"), "but never GANTRY_TOKEN (a secret)");
        ok(!json_object_get(env, "SLURM_JOB_ID"), "nor SLURM_* (the node sets them)");
        batch_free(&b);
        unsetenv("GANTRY_TOKEN");
        unsetenv("SLURM_JOB_ID");
    }
    gives("#!/bin/bash\n#SBATCH -n 1\n#SBATCH --ntasks-per-node=1\n", "{}",
          "-n 1 and --ntasks-per-node=1 are accepted");
    gives("#!/bin/bash\n#SBATCH --time=10 # ten minutes\n", "{\"time_limit\":600}",
          "a ' #' starts a comment");
    gives("#!/bin/bash\n#SBATCH -J a\n#SBATCH -J b\n", "{\"name\":\"b\"}",
          "a later directive wins");
    gives("#!/bin/bash\r\n#SBATCH -J crlf\r\n", "{\"name\":\"crlf\"}", "CRLF line ends");
    gives("#!/bin/bash\n\n# a comment\n   \n#SBATCH -J late\n", "{\"name\":\"late\"}",
          "blank and comment lines may come before a directive");
    gives("#!/bin/bash\n#SBATCH -J first\necho hi\n#SBATCH -J ignored\n",
          "{\"name\":\"first\"}", "a directive after the first command is not read");
    gives("#!/bin/bash\n# SBATCH -J off\n##SBATCH -J off2\n#sbatch -J off3\n", "{}",
          "'# SBATCH', '##SBATCH' and '#sbatch' are comments, as for sbatch");
    gives("#!/bin/bash\n#GANTRY gpus: 2\n#GANTRY gpu_type: [h100, a100]\n",
          "{\"gpu_type\":[\"h100\",\"a100\"],\"gpus\":2}", "#GANTRY FIELD: VALUE (YAML)");
    gives("#!/bin/bash\n#SBATCH --gpus-per-node=4 -N 2\n#GANTRY gpus: 3\n", "{\"gpus\":3,"
          "\"nodes\":2}", "#GANTRY gpus replaces an earlier --gpus-per-node");
    gives("#!/bin/bash\n#SBATCH --export=A=1\n#GANTRY env: {B: \"2\"}\n",
          "{\"env\":{\"A\":\"1\",\"B\":\"2\"}}", "#GANTRY env adds to --export's");
    gives("#!/bin/bash\n#GANTRY priority_class: production\n#SBATCH --qos=normal\n",
          "{\"priority_class\":\"normal\"}", "#SBATCH and #GANTRY: the later line wins");
}

static void test_errors(void)
{
    refused("#!/bin/bash\n#SBATCH -J ok\n#SBATCH --mail-type=END\n", "line 3", "--mail-type",
            "an unsupported long option names its line and the option");
    refused("#!/bin/bash\n\n#SBATCH -x node1\n", "line 3", "-x",
            "an unsupported short option names its line and the option");
    refused("#!/bin/bash\n#SBATCH --constraint=a100\n", "not supported", "-J/--job-name",
            "the message lists what is supported");
    refused("#!/bin/bash\n#SBATCH --time=soon\n", "line 2", "soon", "a bad --time");
    refused("#!/bin/bash\n#SBATCH --mem=12X\n", "line 2", "12X", "a bad --mem");
    refused("#!/bin/bash\n#SBATCH -N 2-4\n", "line 2", "range", "a node range");
    refused("#!/bin/bash\n#SBATCH -N 0\n", "line 2", "--nodes=0", "zero nodes");
    refused("#!/bin/bash\n#SBATCH --gres=shard:2\n", "line 2", "only the gpu resource",
            "a gres other than gpu");
    refused("#!/bin/bash\n#SBATCH --gres=gpu:2,shard:1\n", "line 2", "one resource",
            "two gres");
    refused("#!/bin/bash\n#SBATCH -G many\n", "line 2", "TYPE:N", "a bad --gpus");
    refused("#!/bin/bash\n#SBATCH -d after:5\n", "line 2", "'after'", "dependency type after");
    refused("#!/bin/bash\n#SBATCH -d afterok:5?afterany:6\n", "line 2", "'?'",
            "'?' dependencies");
    refused("#!/bin/bash\n#SBATCH -d afterok:abc\n", "line 2", "'abc'", "a bad job id");
    refused("#!/bin/bash\n#SBATCH -d afterok\n", "line 2", "names no job", "no job id");
    refused("#!/bin/bash\n#SBATCH -d afterok:007\n", "line 2", "'007'",
            "a job id with a leading zero (as gantry show refuses it)");
    refused("#!/bin/bash\n#SBATCH --signal=R:USR1@10\n", "line 2", "R:", "--signal=R:");
    refused("#!/bin/bash\n#SBATCH --signal=WINCH@10\n", "line 2", "WINCH",
            "a signal the node does not send");
    refused("#!/bin/bash\n#SBATCH --signal=USR1@x\n", "line 2", "after @", "a bad @SECONDS");
    refused("#!/bin/bash\n#SBATCH -n 4\n", "line 2", "one task per node", "-n 4");
    refused("#!/bin/bash\n#SBATCH --ntasks-per-node=8\n", "line 2", "one task per node",
            "--ntasks-per-node=8");
    refused("#!/bin/bash\n#SBATCH -c\n", "line 2", "-c needs a value", "a missing value");
    refused("#!/bin/bash\n#SBATCH --time\n", "line 2", "needs a value", "a missing long value");
    refused("#!/bin/bash\n#SBATCH --requeue=yes\n", "line 2", "--requeue",
            "a value given to a flag");
    refused("#!/bin/bash\n#SBATCH -J 'open\n", "line 2", "quote", "an unclosed quote");
    refused("#!/bin/bash\n#SBATCH -J a b\n", "line 2", "'b' is not an option", "a stray word");
    refused("#!/bin/bash\n#SBATCH --export=A=1,=2\n", "line 2", "NAME[=VALUE]",
            "a bad --export item");
    refused("#!/bin/bash\n#GANTRY gpus 2\n", "line 2", "FIELD: VALUE", "#GANTRY without ':'");
    refused("#!/bin/bash\n#GANTRY {a: 1, b: 2}\n", "line 2", "FIELD: VALUE",
            "#GANTRY with two fields");
    refused("#!/bin/bash\n#GANTRY command: [ls]\n", "line 2", "the script is the job's command",
            "#GANTRY command");
    refused("#!/bin/bash\n#SBATCH -J x\n#SBATCH --mem-per-gpu=1G -G 0\n", "--mem-per-gpu",
            "no GPUs", "--mem-per-gpu with no GPUs");
}

static void test_detect(void)
{
    const char *sh = "#!/bin/sh\necho hi\n";
    ok(batch_script_detect(sh, strlen(sh)), "a #! file is a batch script");
    const char *d = "# job\n#SBATCH -J x\nhostname\n";
    ok(batch_script_detect(d, strlen(d)), "a file with #SBATCH at its top is one");
    const char *g = "\n#GANTRY gpus: 1\nhostname\n";
    ok(batch_script_detect(g, strlen(g)), "a file with #GANTRY at its top is one");
    const char *late = "echo hi\n#SBATCH -J x\n";
    ok(!batch_script_detect(late, strlen(late)), "a #SBATCH after a command does not count");
    const char *plain = "echo hi\n";
    ok(!batch_script_detect(plain, strlen(plain)), "a plain text file is not one");
    const char bin[] = "#!\0ELF";
    ok(!batch_script_detect(bin, sizeof(bin) - 1), "a file with a NUL byte is not one");
}

static void test_warnings(void)
{
    batch_t b;
    batch_init(&b);
    gt_buf_t warn = {0};
    gt_error_t err = {0};
    const char *t = "#!/bin/bash\n#SBATCH -J x\nsrun hostname\n#SBATCH -N 4\n";
    ok(batch_script_parse(&b, t, strlen(t), &warn, &err) == 0, "parses");
    ok(warn.data && strstr(warn.data, "line 4: #SBATCH after the script's first command "
                                      "(line 3) is ignored"),
       "a late #SBATCH is reported with its line: %s", warn.data ? warn.data : "(none)");
    ok(!json_object_get(b.fields, "nodes"), "and not applied");
    gt_buf_free(&warn);
    batch_free(&b);
}

/* Flags (batch_option) override directives, as sbatch's do. */
static void test_flags_override(void)
{
    batch_t s, f;
    gt_error_t err = {0};
    batch_init(&s);
    batch_init(&f);
    const char *t = "#!/bin/bash\n#SBATCH -J script --time=10 -N 2 --gpus-per-node=4\n"
                    "#SBATCH --mem=1G -d afterok:5 --export=A=1\n#SBATCH -p gpu\n";
    ok(batch_script_parse(&s, t, strlen(t), NULL, &err) == 0, "the script parses: %s", err.msg);
    ok(batch_option(&f, "job-name", "flag", &err) == 0, "--job-name as a flag");
    ok(batch_option(&f, "time", "1:00:00", &err) == 0, "--time as a flag");
    ok(batch_option(&f, "G", "3", &err) == 0, "-G by its short name");
    ok(batch_option(&f, "mem-per-gpu", "2G", &err) == 0, "--mem-per-gpu as a flag");
    ok(batch_option(&f, "dependency", "singleton", &err) == 0, "--dependency as a flag");
    json_object_set_new(f.fields, "env", json_pack("{s:s}", "B", "2")); /* gantry's -e B=2 */
    batch_merge(&s, &f);
    ok(batch_finish(&s, &err) == 0, "finishes");
    char *got = json_dumps(s.fields, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(got, "{\"env\":{\"A\":\"1\",\"B\":\"2\"},\"gpus\":3,\"memory\":4096,\"name\":"
                "\"flag\",\"nodes\":2,\"partition\":\"gpu\",\"singleton\":true,"
                "\"time_limit\":3600}",
           "flags win field by field (gpus replaces --gpus-per-node, --mem-per-gpu replaces "
           "--mem, a --dependency replaces the script's); -e adds to --export's env");
    free(got);
    is_int(json_integer_value(json_object_get(s.lines, "partition")), 4,
           "the script's fields keep their lines");
    ok(!json_object_get(s.lines, "name"), "a field a flag set has no line");
    batch_free(&f);
    batch_init(&f);
    ok(batch_option(&f, "export", "NONE", &err) == 0, "--export=NONE as a flag");
    batch_merge(&s, &f);
    got = json_dumps(json_object_get(s.fields, "env"), JSON_COMPACT);
    is_str(got, "{}", "--export as a flag replaces the script's env");
    free(got);
    batch_free(&s);
    batch_free(&f);

    batch_init(&f);
    errno = 0;
    ok(batch_option(&f, "mail-type", "END", &err) < 0 && errno == EINVAL,
       "an unknown option is refused");
    ok(strstr(err.msg, "--mail-type is not supported") != NULL, "naming it: %s", err.msg);
    ok(batch_option(&f, "hold", "x", &err) < 0, "--hold takes no value");
    ok(batch_option(&f, "time", NULL, &err) < 0, "--time needs one");
    char cwd[4096];
    ok(getcwd(cwd, sizeof(cwd)) && batch_option(&f, "chdir", "sub/dir", &err) == 0,
       "a relative --chdir");
    char want[4200];
    snprintf(want, sizeof(want), "%s/sub/dir", cwd);
    is_str(json_string_value(json_object_get(f.fields, "workdir")), want,
           "is made absolute against this directory, as sbatch does");
    batch_free(&f);
}

static void test_line_of(void)
{
    batch_t b;
    gt_error_t err = {0};
    batch_init(&b);
    const char *t = "#!/bin/bash\n#SBATCH -p nope\n#SBATCH --qos=gold\n#GANTRY gpu_type: "
                    "[h9]\n#SBATCH --signal=USR1@99999\n";
    refused(t, "line 5", "86400", "an out-of-range @SECONDS names line 5");
    t = "#!/bin/bash\n#SBATCH -p nope\n#SBATCH --qos=gold\n#GANTRY gpu_type: [h9]\n"
        "#SBATCH --signal=USR1@600\n";
    ok(batch_script_parse(&b, t, strlen(t), NULL, &err) == 0, "parses");
    is_int(batch_line_of(&b, "partition 'nope' does not exist; known: gpu"), 2,
           "a server message quoting the partition's value points at line 2");
    is_int(batch_line_of(&b, "priority class 'gold' does not exist"), 3,
           "the class's value: line 3");
    is_int(batch_line_of(&b, "no node offers GPU type 'h9'; known: h100"), 4,
           "a value in a list: line 4");
    is_int(batch_line_of(&b, "'checkpoint.grace' is too large"), 5,
           "a field quoted with its sub-field: line 5");
    is_int(batch_line_of(&b, "'gpus' must be a number"), 0, "a field no directive set: 0");
    is_int(batch_line_of(&b, NULL), 0, "no message: 0");
    batch_free(&b);
}

static void test_command(void)
{
    char *args[] = {"--epochs", "3"};
    json_t *c = batch_command("./train.sh", "#!/bin/bash\necho\n", true, args, 2);
    char *s = json_dumps(c, JSON_COMPACT);
    is_str(s, "[\"./train.sh\",\"--epochs\",\"3\"]", "an executable script runs as itself");
    free(s);
    json_decref(c);
    c = batch_command("./train.sh", "#!/bin/bash -l\necho\n", false, args, 2);
    s = json_dumps(c, JSON_COMPACT);
    is_str(s, "[\"/bin/bash\",\"-l\",\"./train.sh\",\"--epochs\",\"3\"]",
           "a script not executable runs through its #! interpreter and argument");
    free(s);
    json_decref(c);
    c = batch_command("/p/run.py", "#! /usr/bin/env python3 \necho\n", false, NULL, 0);
    s = json_dumps(c, JSON_COMPACT);
    is_str(s, "[\"/usr/bin/env\",\"python3\",\"/p/run.py\"]", "#! with blanks around");
    free(s);
    json_decref(c);
    c = batch_command("./job", "#SBATCH -J x\nhostname\n", true, NULL, 0);
    s = json_dumps(c, JSON_COMPACT);
    is_str(s, "[\"/bin/sh\",\"./job\"]", "a script without #! runs through /bin/sh");
    free(s);
    json_decref(c);
}

/* gantry update --dependency: the same parser, appending to the patch, unchanged on error. */
static void test_dependency_arg(void)
{
    gt_error_t err = {0};
    json_t *patch = json_pack("{s:[{s:s,s:i}]}", "dependencies", "type", "afterok", "job", 1);
    ok(cli_dependency_arg(patch, "afterany:2_0,singleton", &err) == 0, "update: parsed (%s)",
       err.msg);
    char *got = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(got, "{\"dependencies\":[{\"job\":1,\"type\":\"afterok\"},{\"job\":\"2_0\","
                "\"type\":\"afterany\"}],\"singleton\":true}",
           "update: appended to the patch's dependencies, singleton set");
    free(got);
    errno = 0;
    ok(cli_dependency_arg(patch, "afterok:3,after:4", &err) < 0 && errno == EINVAL,
       "update: a bad type refused with EINVAL");
    ok(strstr(err.msg, "dependency type 'after' is not supported") != NULL,
       "update: the message is submit's: %s", err.msg);
    is_int(json_array_size(json_object_get(patch, "dependencies")), 2,
           "update: the patch is unchanged on error");
    ok(cli_dependency_arg(patch, "", &err) < 0 && strstr(err.msg, "is empty"),
       "update: \"\" is refused by the parser (gantry update clears before calling it)");
    json_decref(patch);
}

int main(void)
{
    test_time_formats();
    test_memory_units();
    test_directives();
    test_errors();
    test_detect();
    test_warnings();
    test_flags_override();
    test_line_of();
    test_command();
    test_dependency_arg();
    return tap_done();
}
