/* jobio.c: a job's inputs and outputs, their shapes (jobio.h). */
#include "common/jobio.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envspec.h"

bool gt_artifact_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 63 || !isalnum((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

bool gt_artifact_ref_ok(const char *s)
{
    if (!s)
        return false;
    char name[64];
    size_t n = strcspn(s, "@:");
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, s, n);
    name[n] = '\0';
    if (!gt_artifact_name_ok(name))
        return false;
    if (!s[n])
        return true;
    const char *rest = s + n + 1;
    if (s[n] == ':')
        return gt_artifact_name_ok(rest);
    if (!*rest || strlen(rest) > 9 || rest[0] == '0')
        return false;
    for (const char *p = rest; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

static const char *str_of(const json_t *v) { return json_is_string(v) ? json_string_value(v) : NULL; }

static int check_keys(const json_t *o, const char *what, const char *const *keys,
                      const char *const *dropped, gt_error_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i]; i++)
            known |= !strcmp(k, keys[i]);
        for (size_t i = 0; dropped && dropped[i]; i++)
            known |= !strcmp(k, dropped[i]);
        if (!known) {
            gt_buf_t list = {0};
            for (size_t i = 0; keys[i]; i++)
                gt_buf_printf(&list, "%s%s", i ? ", " : "", keys[i]);
            gt_error_invalid(err, "%s: unknown field '%s': it has %s", what, k, list.data);
            gt_buf_free(&list);
            return -1;
        }
    }
    return 0;
}

/* Whether a is b or lies beneath it, component by component. */
static bool beneath(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (!strcmp(b, "/"))
        return true;
    return !strncmp(a, b, n) && (a[n] == '/' || !a[n]);
}

static const char *const reserved_paths[] = {"/gantry", "/proc", "/sys", "/dev", NULL};

int gt_inputs_parse(const json_t *v, json_t **out, gt_error_t *err)
{
    static const char *const keys[] = {"artifact", "path", NULL};
    static const char *const server_set[] = {"ref", "version", "digest", "location", NULL};
    if (!json_is_array(v))
        return gt_error_invalid(
            err, "'inputs' must be a list such as [{artifact: imagenet@3, path: /data}]");
    if (json_array_size(v) > GT_INPUTS_MAX)
        return gt_error_invalid(err, "'inputs' holds %zu artifacts; at most %d",
                                json_array_size(v), GT_INPUTS_MAX);
    json_t *res = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(v, i, m)
    {
        char what[64];
        snprintf(what, sizeof(what), "inputs[%zu]", i);
        if (!json_is_object(m)) {
            gt_error_invalid(err, "%s must be a mapping such as {artifact: imagenet@3, path: "
                                  "/data}", what);
            goto fail;
        }
        if (check_keys(m, what, keys, server_set, err) < 0)
            goto fail;
        /* A resolved input (a job's own document sent again) keeps its reference as given in
         * "ref" ("artifact" became the name): it resolves again, an alias to its version now. */
        const char *ref = str_of(json_object_get(m, json_object_get(m, "ref") ? "ref" : "artifact"));
        if (!gt_artifact_ref_ok(ref)) {
            gt_error_invalid(err,
                             "%s.artifact must name a version: NAME (the latest), NAME@N or "
                             "NAME:ALIAS, such as imagenet@3 or imagenet:production",
                             what);
            goto fail;
        }
        const char *p = str_of(json_object_get(m, "path"));
        char path[4096];
        bool dotdot;
        if (!p || p[0] != '/' || !gt_path_norm(p, true, path, sizeof(path), &dotdot) || dotdot ||
            !strcmp(path, "/")) {
            gt_error_invalid(err,
                             "%s.path must be an absolute path other than / and without '..', "
                             "where the job sees %s (such as /data)",
                             what, ref);
            goto fail;
        }
        for (size_t r = 0; reserved_paths[r]; r++)
            if (beneath(path, reserved_paths[r])) {
                gt_error_invalid(err,
                                 "%s.path %s is under %s, which the job's runtime provides; "
                                 "mount %s elsewhere",
                                 what, path, reserved_paths[r], ref);
                goto fail;
            }
        size_t k;
        json_t *prev;
        json_array_foreach(res, k, prev)
        {
            const char *pp = json_string_value(json_object_get(prev, "path"));
            if (beneath(path, pp) || beneath(pp, path)) {
                gt_error_invalid(err, "'inputs': %s at %s and %s at %s overlap; give each a "
                                      "path of its own",
                                 json_string_value(json_object_get(prev, "artifact")), pp, ref,
                                 path);
                goto fail;
            }
        }
        json_array_append_new(res, json_pack("{s:s,s:s}", "artifact", ref, "path", path));
    }
    *out = res;
    return 0;
fail:
    json_decref(res);
    return -1;
}

int gt_outputs_parse(const json_t *v, json_t **out, gt_error_t *err)
{
    static const char *const keys[] = {"artifact", "kind", "path", NULL};
    static const char *const server_set[] = {"version", "digest", "error", NULL};
    if (!json_is_array(v))
        return gt_error_invalid(err, "'outputs' must be a list such as [{artifact: llama-ft, "
                                     "kind: model, path: " GT_OUTPUT_ROOT "/model}]");
    if (json_array_size(v) > GT_OUTPUTS_MAX)
        return gt_error_invalid(err, "'outputs' holds %zu artifacts; at most %d",
                                json_array_size(v), GT_OUTPUTS_MAX);
    json_t *res = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(v, i, m)
    {
        char what[64];
        snprintf(what, sizeof(what), "outputs[%zu]", i);
        if (!json_is_object(m)) {
            gt_error_invalid(err, "%s must be a mapping such as {artifact: llama-ft, kind: "
                                  "model, path: " GT_OUTPUT_ROOT "/model}", what);
            goto fail;
        }
        if (check_keys(m, what, keys, server_set, err) < 0)
            goto fail;
        const char *name = str_of(json_object_get(m, "artifact"));
        if (!gt_artifact_name_ok(name)) {
            gt_error_invalid(err,
                             "%s.artifact must be an artifact's name (1 to 63 of A-Z, a-z, 0-9, "
                             "'.', '_', '-', beginning with a letter or digit; no @version or "
                             ":alias: a job makes a new version)",
                             what);
            goto fail;
        }
        json_t *kv = json_object_get(m, "kind");
        const char *kind = kv ? str_of(kv) : "other";
        if (!kind || (strcmp(kind, "dataset") && strcmp(kind, "model") && strcmp(kind, "other"))) {
            gt_error_invalid(err, "%s.kind must be dataset, model or other", what);
            goto fail;
        }
        const char *p = str_of(json_object_get(m, "path"));
        char path[4096];
        bool dotdot;
        if (!p || p[0] != '/' || !gt_path_norm(p, true, path, sizeof(path), &dotdot) || dotdot ||
            !beneath(path, GT_OUTPUT_ROOT)) {
            gt_error_invalid(err,
                             "%s.path must be " GT_OUTPUT_ROOT " or a path beneath it without "
                             "'..' (the job's output directory, $GANTRY_OUTPUT_DIR), such as "
                             GT_OUTPUT_ROOT "/model",
                             what);
            goto fail;
        }
        size_t k;
        json_t *prev;
        json_array_foreach(res, k, prev)
        {
            if (!strcmp(json_string_value(json_object_get(prev, "artifact")), name)) {
                gt_error_invalid(err, "'outputs': artifact '%s' is given twice; a job makes "
                                      "one version of each", name);
                goto fail;
            }
            if (!strcmp(json_string_value(json_object_get(prev, "path")), path)) {
                gt_error_invalid(err, "'outputs': two artifacts at %s; give each its own path",
                                 path);
                goto fail;
            }
        }
        json_array_append_new(res, json_pack("{s:s,s:s,s:s}", "artifact", name, "kind", kind,
                                             "path", path));
    }
    *out = res;
    return 0;
fail:
    json_decref(res);
    return -1;
}

int gt_inputs_mounts_check(const json_t *inputs, const json_t *mounts, gt_error_t *err)
{
    size_t i, k;
    json_t *in, *m;
    json_array_foreach(inputs, i, in)
    {
        const char *p = json_string_value(json_object_get(in, "path"));
        json_array_foreach(mounts, k, m)
        {
            const char *mp = json_string_value(json_object_get(m, "path"));
            if (p && mp && (beneath(p, mp) || beneath(mp, p)))
                return gt_error_invalid(err,
                                        "inputs[%zu] at %s overlaps the mount of volume '%s' at "
                                        "%s; give the input a path of its own",
                                        i, p, json_string_value(json_object_get(m, "volume")),
                                        mp);
        }
    }
    return 0;
}
