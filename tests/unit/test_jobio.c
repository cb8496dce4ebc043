/* jobio and artifact_hash: a job's inputs and outputs are refused when malformed (each rule
 * with the field it names), resolved documents are taken again; the node hashes a declared
 * output beneath its root and refuses one that leaves it (a symlink, a '..'), in process and
 * in the child that writes the result file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/artifact_hash.h"
#include "common/jobio.h"
#include "tap.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        diag("bad JSON in the test: %s", text);
    return v;
}

/* Parses inputs (or outputs) text: 0/-1 and the message in msg. */
static int parse(bool inputs, const char *text, json_t **out, char *msg, size_t len)
{
    json_t *v = J(text);
    gt_error_t err = {0};
    *out = NULL;
    int rc = inputs ? gt_inputs_parse(v, out, &err) : gt_outputs_parse(v, out, &err);
    snprintf(msg, len, "%s", err.msg);
    json_decref(v);
    return rc;
}

static void refuses(bool inputs, const char *text, const char *needle)
{
    json_t *out;
    char msg[1100];
    int rc = parse(inputs, text, &out, msg, sizeof(msg));
    is_int(rc, -1, "%s %s is refused", inputs ? "inputs" : "outputs", text);
    ok(strstr(msg, needle) != NULL, "  its message says '%s'", needle);
    if (!strstr(msg, needle))
        diag("message: %s", msg);
    json_decref(out);
}

static void test_refs(void)
{
    ok(gt_artifact_ref_ok("imagenet"), "a name is a reference (the latest)");
    ok(gt_artifact_ref_ok("imagenet@3"), "NAME@N");
    ok(gt_artifact_ref_ok("imagenet:production"), "NAME:ALIAS");
    ok(!gt_artifact_ref_ok("imagenet@0"), "version 0 is not one");
    ok(!gt_artifact_ref_ok("imagenet@03"), "nor a version with a leading zero");
    ok(!gt_artifact_ref_ok("imagenet@3x"), "nor a version with letters");
    ok(!gt_artifact_ref_ok("imagenet:"), "an empty alias is not one");
    ok(!gt_artifact_ref_ok("@3"), "an empty name is not one");
    ok(!gt_artifact_ref_ok("-x"), "a name beginning with '-' is not one");
    ok(!gt_artifact_ref_ok("a/b"), "nor one with '/'");
    ok(!gt_artifact_name_ok("llama@2"), "an output names an artifact, not a version");
}

static void test_inputs(void)
{
    json_t *out;
    char msg[1100];
    is_int(parse(true, "[{\"artifact\": \"imagenet@3\", \"path\": \"/data//train/\"}]", &out,
                 msg, sizeof(msg)),
           0, "an input is taken");
    is_str(json_string_value(json_object_get(json_array_get(out, 0), "path")), "/data/train",
           "its path is normalized");
    json_decref(out);
    refuses(true, "{}", "'inputs' must be a list");
    refuses(true, "[{\"artifact\": \"x\"}]", "inputs[0].path must be an absolute path");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"data\"}]", "inputs[0].path");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"/a/../b\"}]", "without '..'");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"/\"}]", "other than /");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"/gantry/output\"}]", "under /gantry");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"/proc/x\"}]", "under /proc");
    refuses(true, "[{\"artifact\": \"x@0\", \"path\": \"/d\"}]", "inputs[0].artifact must name");
    refuses(true, "[{\"artifact\": \"x\", \"path\": \"/d\", \"mode\": 1}]",
            "unknown field 'mode'");
    refuses(true,
            "[{\"artifact\": \"x\", \"path\": \"/d\"}, {\"artifact\": \"y\", \"path\": "
            "\"/d/sub\"}]",
            "overlap");
    gt_buf_t many = {0};
    gt_buf_printf(&many, "[");
    for (int i = 0; i <= GT_INPUTS_MAX; i++)
        gt_buf_printf(&many, "%s{\"artifact\": \"x\", \"path\": \"/d%d\"}", i ? "," : "", i);
    gt_buf_printf(&many, "]");
    refuses(true, many.data, "at most 16");
    gt_buf_free(&many);
    /* A resolved input, sent back: its ref is the reference again. */
    is_int(parse(true,
                 "[{\"artifact\": \"clf\", \"version\": 1, \"digest\": \"sha256:00\", \"ref\": "
                 "\"clf:production\", \"path\": \"/m\", \"location\": {\"volume\": \"o\", "
                 "\"path\": \"p\"}}]",
                 &out, msg, sizeof(msg)),
           0, "a resolved input is taken again");
    is_str(json_string_value(json_object_get(json_array_get(out, 0), "artifact")),
           "clf:production", "its alias is what resolves again, not the version it had");
    ok(!json_object_get(json_array_get(out, 0), "version"), "its version is dropped");
    json_decref(out);
    json_t *ins = J("[{\"artifact\": \"x\", \"path\": \"/data\"}]");
    json_t *mounts = J("[{\"volume\": \"v\", \"path\": \"/data/a\"}]");
    gt_error_t err = {0};
    is_int(gt_inputs_mounts_check(ins, mounts, &err), -1, "an input over a mount is refused");
    ok(strstr(err.msg, "overlaps the mount of volume 'v'") != NULL, "  naming the volume");
    json_decref(mounts);
    mounts = J("[{\"volume\": \"v\", \"path\": \"/database\"}]");
    is_int(gt_inputs_mounts_check(ins, mounts, &err), 0,
           "/database does not overlap /data (components, not prefixes)");
    json_decref(mounts);
    json_decref(ins);
}

static void test_outputs(void)
{
    json_t *out;
    char msg[1100];
    is_int(parse(false, "[{\"artifact\": \"llama-ft\", \"kind\": \"model\", \"path\": "
                        "\"/gantry/output/model/\"}]",
                 &out, msg, sizeof(msg)),
           0, "an output is taken");
    is_str(json_string_value(json_object_get(json_array_get(out, 0), "path")),
           "/gantry/output/model", "its path is normalized");
    json_decref(out);
    is_int(parse(false, "[{\"artifact\": \"x\", \"path\": \"/gantry/output\"}]", &out, msg,
                 sizeof(msg)),
           0, "the output directory itself may be an output");
    is_str(json_string_value(json_object_get(json_array_get(out, 0), "kind")), "other",
           "kind defaults to other");
    json_decref(out);
    refuses(false, "[{\"artifact\": \"x\", \"path\": \"/data/model\"}]",
            "must be /gantry/output or a path beneath it");
    refuses(false, "[{\"artifact\": \"x\", \"path\": \"/gantry/outputs\"}]",
            "must be /gantry/output");
    refuses(false, "[{\"artifact\": \"x\", \"path\": \"/gantry/output/../checkpoint\"}]",
            "without '..'");
    refuses(false, "[{\"artifact\": \"x@2\", \"path\": \"/gantry/output\"}]",
            "a job makes a new version");
    refuses(false, "[{\"artifact\": \"x\", \"kind\": \"weights\", \"path\": \"/gantry/output\"}]",
            "kind must be dataset, model or other");
    refuses(false,
            "[{\"artifact\": \"x\", \"path\": \"/gantry/output/a\"}, {\"artifact\": \"x\", "
            "\"path\": \"/gantry/output/b\"}]",
            "given twice");
    refuses(false,
            "[{\"artifact\": \"x\", \"path\": \"/gantry/output/a\"}, {\"artifact\": \"y\", "
            "\"path\": \"/gantry/output/a\"}]",
            "two artifacts at /gantry/output/a");
    is_int(parse(false, "[{\"artifact\": \"x\", \"path\": \"/gantry/output\", \"version\": 2, "
                        "\"digest\": \"sha256:00\"}]",
                 &out, msg, sizeof(msg)),
           0, "a registered output, sent back, is taken (its version dropped)");
    ok(!json_object_get(json_array_get(out, 0), "version"), "  without its version");
    json_decref(out);
}

static char top[64];

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", top, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_hash(void)
{
    snprintf(top, sizeof(top), "/tmp/gantry-test-jobio.XXXXXX");
    if (!mkdtemp(top)) {
        ok(0, "mkdtemp");
        return;
    }
    char p[512];
    snprintf(p, sizeof(p), "%s/out", top);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/out/model", top);
    mkdir(p, 0755);
    put("out/model/w.bin", "weights");
    put("out/model/cfg.json", "{}");
    put("secret", "not the job's");
    snprintf(p, sizeof(p), "%s/out/leak", top);
    if (symlink("../secret", p) < 0)
        diag("symlink: %s", strerror(errno));
    snprintf(p, sizeof(p), "%s/out/model/abs", top);
    char target[256];
    snprintf(target, sizeof(target), "%s/secret", top);
    if (symlink(target, p) < 0)
        diag("symlink: %s", strerror(errno));
    char root[512];
    snprintf(root, sizeof(root), "%s/out", top);

    json_t *r = artifact_hash_one(root, "model", ARTIFACT_HASH_MANIFEST_MAX);
    ok(!json_object_get(r, "error"), "a declared output is hashed");
    is_int(json_integer_value(json_object_get(r, "files")), 3,
           "every file and link of it is in its manifest");
    ok(!strncmp(json_string_value(json_object_get(r, "digest")) ?: "", "sha256:", 7),
       "its digest is a sha256: digest");
    json_t *m = json_object_get(r, "manifest");
    const char *link = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e) if (!strcmp(json_string_value(json_object_get(e, "path")), "abs"))
        link = json_string_value(json_object_get(e, "link"));
    is_str(link, target, "a link inside it is recorded as a link, its target not read");
    json_t *r2 = artifact_hash_one(root, "model", ARTIFACT_HASH_MANIFEST_MAX);
    is_str(json_string_value(json_object_get(r2, "digest")),
           json_string_value(json_object_get(r, "digest")), "the same files, the same digest");
    json_decref(r2);
    put("out/model/w.bin", "weight5");
    r2 = artifact_hash_one(root, "model", ARTIFACT_HASH_MANIFEST_MAX);
    ok(strcmp(json_string_value(json_object_get(r2, "digest")),
              json_string_value(json_object_get(r, "digest"))),
       "one changed byte, another digest");
    json_decref(r2);
    r2 = artifact_hash_one(root, "model", 10);
    ok(json_is_true(json_object_get(r2, "manifest_omitted")) &&
           !json_object_get(r2, "manifest") && json_object_get(r2, "digest"),
       "a manifest over the bound is left out, its digest kept");
    json_decref(r2);
    json_decref(r);

    r = artifact_hash_one(root, "leak", ARTIFACT_HASH_MANIFEST_MAX);
    ok(json_object_get(r, "error") != NULL, "a declared output that is a symlink out of the "
                                            "output directory is refused");
    ok(strstr(json_string_value(json_object_get(r, "error")) ?: "", "leaves the volume") != NULL,
       "  saying it leaves it");
    json_decref(r);
    r = artifact_hash_one(root, "../secret", ARTIFACT_HASH_MANIFEST_MAX);
    ok(json_object_get(r, "error") != NULL, "a '..' out of it is refused");
    json_decref(r);
    r = artifact_hash_one(root, "missing", ARTIFACT_HASH_MANIFEST_MAX);
    ok(strstr(json_string_value(json_object_get(r, "error")) ?: "", "No such file") != NULL,
       "a missing output says so");
    json_decref(r);

    /* In a child, into a result file. */
    char res[512];
    snprintf(res, sizeof(res), "%s/result", top);
    json_t *targets = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "artifact", "m", "root", root,
                                "sub_path", "model", "artifact", "bad", "root", root,
                                "sub_path", "leak");
    gt_error_t err = {0};
    pid_t pid = artifact_hash_spawn(targets, res, &err);
    ok(pid > 0, "a hashing child starts");
    int status = 0;
    waitpid(pid, &status, 0);
    is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "it exits 0");
    json_t *doc = artifact_hash_read(res);
    json_t *rs = json_object_get(doc, "results");
    is_int(json_array_size(rs), 2, "its file holds one result per target");
    is_str(json_string_value(json_object_get(json_array_get(rs, 0), "artifact")), "m",
           "in order, with the target's own keys");
    ok(!json_object_get(json_array_get(rs, 0), "root"), "without the root");
    ok(json_object_get(json_array_get(rs, 0), "digest") != NULL, "the first hashed");
    ok(json_object_get(json_array_get(rs, 1), "error") != NULL, "the escaping one refused");
    json_decref(doc);
    json_decref(targets);
    snprintf(p, sizeof(p), "%s/nothing", top);
    errno = 0;
    ok(!artifact_hash_read(p) && errno == ENOENT, "an absent result reads as NULL, ENOENT");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
    if (system(cmd) != 0)
        diag("could not remove %s", top);
}

int main(void)
{
    test_refs();
    test_inputs();
    test_outputs();
    test_hash();
    return tap_done();
}
