/* yaml_emit / yaml_read (common/yaml_json.h): every value the API returns, written with
 * libyaml's emitter, reads back as the same JSON value through Gantry's reader and through an
 * independent one (python3's yaml module, a YAML 1.1 reader: `yes` is a boolean there); and the
 * reader's own rules (core schema, duplicate keys with their lines, one document, aliases). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "common/yaml_json.h"
#include "tap.h"

/* Strings a hand printer gets wrong: YAML 1.1 and 1.2 typed words, numbers, dates, indicators,
 * spaces, control characters, line breaks, unicode, the empty string. */
static const char *const tricky[] = {
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "OFF", "true", "False", "TRUE",
    "~", "null", "Null", "NULL", "", "1e3", "0x10", "0o17", "0b101", "0123", "089", "1_000",
    "12", "-5", "+5", "3.14", ".5", "-.5", "1.", ".inf", "-.inf", ".NaN", "2024-01-01",
    "2024-01-01T10:00:00Z", "1:30", "190:20:30", "=", "<<", "a\tb", "\ttab first",
    "line1\nline2", "trailing newline\n", "two trailing\n\n", "\nleading newline",
    " leading space", "trailing space ", "  ", "key: value", "a:b", "http://x:80/y",
    "# not a comment", "a # b", "'single'", "\"double\"", "it's", "- dash", "-", "--- doc",
    "...", "? q", "[list]", "{map}", "a, b", "&anchor", "*alias", "!tag", "%percent",
    "@at", "`tick`", "|", ">", "héllo ☃ 日本語", "\xc2\x85next-line", "\xe2\x80\xa8sep",
    "back\\slash", "bell\a", "cr\rlf", "ends with colon:", "x\n  indented\n\tand tab",
    "multi\nline with 'quotes' and \"double\" # hash\n", NULL,
};

static char tmpdir[] = "/tmp/gantry-yaml-emit.XXXXXX";

/* The value python3's yaml.safe_load reads from text, through json.dumps; NULL on failure. */
static json_t *python_read(const char *text)
{
    char path[256], out[256], cmd[1024];
    snprintf(path, sizeof(path), "%s/doc.yaml", tmpdir);
    snprintf(out, sizeof(out), "%s/doc.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import sys, yaml, json; "
             "json.dump(yaml.safe_load(open(sys.argv[1], encoding=\"utf-8\")), "
             "open(sys.argv[2], \"w\"), ensure_ascii=False)' %s %s",
             path, out);
    if (system(cmd) != 0)
        return NULL;
    return json_load_file(out, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

static void show(const char *what, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    diag("%s: %s", what, s ? s : "(null)");
    free(s);
}

/* emit v; read it back with both readers; both must equal v exactly (types too). */
static void round_trip(const json_t *v, const char *name)
{
    gt_error_t err = {0};
    char *text = gt_yaml_emit(v, &err);
    ok(text != NULL, "%s: emitted (%s)", name, text ? "ok" : err.msg);
    if (!text)
        return;
    json_t *mine = gt_yaml_read(text, strlen(text), &err);
    ok(mine && json_equal(mine, (json_t *)v), "%s: Gantry's reader reads the same value", name);
    if (!mine || !json_equal(mine, (json_t *)v)) {
        diag("yaml:\n%s", text);
        show("want", v);
        show("got", mine);
        if (!mine)
            diag("error: %s", err.msg);
    }
    json_t *py = python_read(text);
    ok(py && json_equal(py, (json_t *)v), "%s: python3 yaml.safe_load reads the same value",
       name);
    if (!py || !json_equal(py, (json_t *)v)) {
        diag("yaml:\n%s", text);
        show("want", v);
        show("got", py);
    }
    json_decref(mine);
    json_decref(py);
    free(text);
}

static void test_round_trips(void)
{
    /* each tricky string as a value, as a key, and in a list */
    json_t *env = json_object(), *keys = json_object(), *list = json_array();
    for (int i = 0; tricky[i]; i++) {
        char k[32];
        snprintf(k, sizeof(k), "V%d", i);
        json_object_set_new(env, k, json_string(tricky[i]));
        if (*tricky[i])
            json_object_set_new(keys, tricky[i], json_integer(i));
        json_array_append_new(list, json_string(tricky[i]));
    }
    json_t *job = json_pack("{s:I,s:s,s:o,s:o,s:o}", "id", (json_int_t)30, "name", "train",
                            "env", env, "keys", keys, "list", list);
    round_trip(job, "a job with every tricky string as a value, a key and a list item");
    for (int i = 0; tricky[i]; i++) {
        char name[64];
        snprintf(name, sizeof(name), "the string #%d alone", i);
        json_t *s = json_string(tricky[i]);
        round_trip(s, name);
        json_decref(s);
    }
    json_t *nul = json_stringn("nul\0byte", 8);
    json_t *with_nul = json_pack("{s:o}", "v", nul);
    round_trip(with_nul, "a NUL byte in a string");
    json_decref(with_nul);

    /* numbers keep their kind: a real 2.0 stays a real, an integer an integer */
    json_t *nums = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:b,s:b,s:n}",
                             "gpus", 2.0, "quarter", 0.25, "big", 1e20, "tiny", -3.5e-7,
                             "third", 1.0 / 3, "neg", -0.0 + -12.5, "huge", 1.7976931348623157e308,
                             "int", (json_int_t)7, "zero", (json_int_t)0, "max",
                             (json_int_t)INT64_MAX, "min", (json_int_t)INT64_MIN, "t", 1, "f",
                             0, "none");
    round_trip(nums, "integers, reals, booleans and null keep their types");
    json_decref(nums);

    json_t *nest = json_loads("{\"placement\":[{\"node\":\"n1\",\"gpus\":[0,1]},{\"node\":\"on\","
                              "\"gpus\":[]}],\"mounts\":[],\"labels\":{},\"deep\":[[[\"x\"]],"
                              "[{}],[[]]],\"command\":[\"sh\",\"-c\",\"echo $X: done\\n"
                              "exit 0\"]}", 0, NULL);
    round_trip(nest, "nested lists and mappings, empty ones too");
    json_decref(nest);
    json_t *empty_list = json_array(), *empty_map = json_object();
    round_trip(empty_list, "an empty list alone");
    round_trip(empty_map, "an empty mapping alone");
    json_decref(empty_list);
    json_decref(empty_map);
    json_decref(job);
}

/* What the emitter writes, exactly where it matters. */
static void test_emitted_text(void)
{
    gt_error_t err = {0};
    json_t *v = json_pack("{s:s,s:s,s:s,s:f,s:f,s:s,s:s}", "a", "yes", "b", "~", "c",
                          "plain words", "d", 2.0, "e", 1e20, "f", "0123", "g", "two\nlines");
    char *t = gt_yaml_emit(v, &err);
    ok(t && strstr(t, "a: 'yes'\n"), "yes is quoted");
    ok(t && strstr(t, "b: '~'\n"), "~ is quoted");
    ok(t && strstr(t, "c: plain words\n"), "plain words stay plain");
    ok(t && strstr(t, "d: 2.0\n"), "a real 2.0 is written 2.0");
    ok(t && strstr(t, "e: 1.0e+20\n"), "a real 1e20 is written with a '.' (1.0e+20)");
    ok(t && strstr(t, "f: '0123'\n"), "0123 is quoted");
    ok(t && strstr(t, "g: |-\n  two\n  lines\n"), "a multi-line string is a literal block");
    if (t)
        diag("%s", t);
    free(t);
    json_decref(v);
    ok(!gt_yaml_plain_safe("yes", 3) && !gt_yaml_plain_safe("ON", 2) &&
           !gt_yaml_plain_safe("2024-01-01", 10) && !gt_yaml_plain_safe("-1", 2) &&
           !gt_yaml_plain_safe(".5", 2) && !gt_yaml_plain_safe("", 0) &&
           !gt_yaml_plain_safe(".Inf", 4) && !gt_yaml_plain_safe("a\0b", 3),
       "plain_safe: typed words, numbers, dates, empty, NUL are not plain");
    ok(gt_yaml_plain_safe("train", 5) && gt_yaml_plain_safe("yesterday", 9) &&
           gt_yaml_plain_safe("-flag", 5) && gt_yaml_plain_safe("v1.2", 4),
       "plain_safe: ordinary words are");
}

static json_t *read_ok(const char *text)
{
    gt_error_t err = {0};
    json_t *v = gt_yaml_read(text, strlen(text), &err);
    if (!v)
        diag("refused: %s", err.msg);
    return v;
}

static void refused(const char *text, const char *want, const char *name)
{
    gt_error_t err = {0};
    errno = 0;
    json_t *v = gt_yaml_read(text, strlen(text), &err);
    ok(!v && errno == EINVAL && strstr(err.msg, want), "%s", name);
    if (v || !strstr(err.msg, want))
        diag("got '%s', want it to hold '%s'", v ? "(accepted)" : err.msg, want);
    json_decref(v);
}

static void test_reader(void)
{
    json_t *v = read_ok("a: yes\nb: 'yes'\nc: true\nd: ~\ne: null\nf: 0x10\ng: 0o17\n"
                        "h: 0660\ni: 1e3\nj: 2.0\nk: 12\nl: 2024-01-01\nm:\nn: \"~\"\n"
                        "o: !!str 123\np: -7\nq: on\nr: .5\ns: TRUE\n");
    json_t *want = json_loads("{\"a\":\"yes\",\"b\":\"yes\",\"c\":true,\"d\":null,\"e\":null,"
                              "\"f\":16,\"g\":15,\"h\":432,\"i\":1000.0,\"j\":2.0,\"k\":12,"
                              "\"l\":\"2024-01-01\",\"m\":null,\"n\":\"~\",\"o\":\"123\","
                              "\"p\":-7,\"q\":\"on\",\"r\":0.5,\"s\":true}", 0, NULL);
    ok(v && json_equal(v, want), "core schema: yes/on are strings, ~ null, 0x10 16, 0660 "
       "octal, 1e3 a real, dates strings, quoted and !!str strings");
    if (v && !json_equal(v, want))
        show("got", v);
    json_decref(v);
    json_decref(want);

    refused("name: a\nenv:\n  X: 1\nname: b\n", "line 4: the key 'name' is given twice in one "
            "mapping (first at line 1)", "a duplicate key is refused with both lines");
    refused("env:\n  X: '1'\n  Y: '2'\n  X: '3'\n", "line 4: the key 'X' is given twice",
            "a duplicate key in a nested mapping is refused with its line");
    refused("{a: 1, a: 2}\n", "line 1: the key 'a' is given twice", "in flow style too");
    refused("a: 1\n'a': 2\n", "the key 'a' is given twice", "a quoted spelling of the same key");
    refused("a: 1\n---\nb: 2\n", "line 2: a second YAML document", "a second document");
    refused("", "empty", "an empty file");
    refused("# only a comment\n", "empty", "a file of comments");
    refused("a: [1, 2\n", "not valid YAML", "bad YAML");
    refused("a: 089\n", "line 1: 089 reads as octal to some", "089 is refused");
    refused("a: 99999999999999999999\n", "too large for a whole number", "an integer > 64 bits");
    refused("a: .inf\n", "not a number JSON can hold", ".inf");
    refused("a: 1e999\n", "too large for a number", "1e999");
    refused("a: !!int yes\n", "is not what its tag", "a tag that does not fit its value");
    refused("a: !custom x\n", "the tag !custom is not supported", "an unknown tag");
    refused("? [a]\n: 1\n", "a key must be a plain word", "a list as a key");
    refused("a: *nowhere\n", "names no anchor", "an alias without an anchor");
    gt_buf_t deep = {0};
    for (int i = 0; i < 70; i++)
        gt_buf_append(&deep, "[", 1);
    refused(deep.data, "nested deeper than 64", "nesting beyond 64 levels");
    gt_buf_free(&deep);
    gt_buf_t laughs = {0};
    gt_buf_printf(&laughs, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'j'; c++)
        gt_buf_printf(&laughs, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                      c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    refused(laughs.data, "more than a million values", "aliases that expand beyond a million");
    gt_buf_free(&laughs);

    v = read_ok("base: &b {gpus: 2, env: {A: x}}\njob: *b\n");
    ok(v && json_equal(json_object_get(v, "base"), json_object_get(v, "job")),
       "an alias copies its anchor's value");
    json_decref(v);
    v = read_ok("7\n");
    ok(v && json_integer_value(v) == 7, "a scalar document");
    json_decref(v);

    gt_error_t err = {0};
    v = cli_yaml_to_json("a: 1\na: 2\n", 10, &err);
    ok(!v && strstr(err.msg, "line 2: the key 'a' is given twice"),
       "cli_yaml_to_json is this reader (duplicates refused)");
    json_decref(v);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        ok(0, "mkdtemp");
        return tap_done();
    }
    test_round_trips();
    test_emitted_text();
    test_reader();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("cannot remove %s", tmpdir);
    return tap_done();
}
