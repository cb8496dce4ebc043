/* envspec.c: the shapes of images, volumes, mounts and software stacks (envspec.h). */
#include "common/envspec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gt_env_name_ok(const char *s)
{
    return s && gt_node_name_check(s, NULL) == 0;
}

bool gt_network_ok(const char *s)
{
    return s && (!strcmp(s, "host") || !strcmp(s, "none"));
}

/* A JSON string without NUL bytes, or NULL. */
static const char *str_of(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* A path's components without "" and "."; *dotdot when one is "..". Writes the joined form
 * ("/a/b" when absolute, "a/b" when not, "/" or "" when none) into out (false when it does
 * not fit). */
static bool norm_path(const char *in, bool absolute, char *out, size_t len, bool *dotdot)
{
    size_t o = 0;
    *dotdot = false;
    out[0] = '\0';
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            *dotdot = true;
        if (n && !(n == 1 && p[0] == '.')) {
            bool slash = absolute || o > 0;
            if (o + n + (slash ? 1 : 0) + 1 > len)
                return false;
            if (slash)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
            out[o] = '\0';
        }
        p = e;
    }
    if (absolute && o == 0) {
        if (len < 2)
            return false;
        strcpy(out, "/");
    }
    return true;
}

bool gt_path_norm(const char *in, bool absolute, char *out, size_t len, bool *dotdot)
{
    return norm_path(in, absolute, out, len, dotdot);
}

static bool printable_word(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p > '~')
            return false;
    return true;
}

/* A transport's path (oci:, oci-archive:, docker-archive:): absolute, no ".." component. */
static bool image_path_ok(const char *p)
{
    char buf[GT_IMAGE_REF_MAX + 2];
    bool dotdot;
    return p[0] == '/' && p[1] && norm_path(p, true, buf, sizeof(buf), &dotdot) && !dotdot;
}

int gt_image_ref_check(const char *ref, gt_error_t *err)
{
    static const char *const form =
        "docker://REGISTRY/NAME:TAG, oci:/PATH/LAYOUT[:TAG], oci-archive:/PATH.tar or "
        "docker-archive:/PATH.tar";
    if (!ref || !*ref)
        return gt_error_invalid(err, "'image' must be an image reference such as %s", form);
    if (strlen(ref) > GT_IMAGE_REF_MAX)
        return gt_error_invalid(err, "'image' is longer than %d characters", GT_IMAGE_REF_MAX);
    if (!printable_word(ref))
        return gt_error_invalid(err, "'image' must not hold spaces or control characters");
    if (!strncmp(ref, "docker://", 9)) {
        const char *r = ref + 9;
        if (!*r || *r == '/' || *r == ':' || *r == '@')
            return gt_error_invalid(err,
                                    "'image' %s names no image after docker:// (write "
                                    "docker://REGISTRY/NAME:TAG)",
                                    ref);
        return 0;
    }
    static const char *const paths[] = {"oci:", "oci-archive:", "docker-archive:"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(paths[i]);
        if (!strncmp(ref, paths[i], n)) {
            if (!image_path_ok(ref + n))
                return gt_error_invalid(err,
                                        "'image' %s: after %s comes an absolute path on the node "
                                        "without '..' (such as %s/srv/images/pytorch%s)",
                                        ref, paths[i], paths[i], i ? ".tar" : ":2.4");
            return 0;
        }
    }
    return gt_error_invalid(err, "'image' %s has no transport; write %s", ref, form);
}

bool gt_image_local_path(const char *ref, char *buf, size_t len)
{
    static const char *const paths[] = {"oci:", "oci-archive:", "docker-archive:"};
    if (gt_image_ref_check(ref, NULL) < 0)
        return false;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(paths[i]);
        if (strncmp(ref, paths[i], n))
            continue;
        bool dotdot;
        if (!norm_path(ref + n, true, buf, len, &dotdot))
            return false;
        /* oci:/PATH:TAG: a tag follows the last ':' after the last '/' */
        char *slash = strrchr(buf, '/'), *colon = strrchr(buf, ':');
        if (i == 0 && colon && colon > slash)
            *colon = '\0';
        return true;
    }
    return false;
}

bool gt_path_beneath_any(const char *path, const json_t *prefixes)
{
    size_t i;
    const json_t *p;
    json_array_foreach(prefixes, i, p)
    {
        const char *s = json_string_value(p);
        size_t n = s ? strlen(s) : 0;
        if (n && !strncmp(path, s, n) && (path[n] == '/' || !path[n] || !strcmp(s, "/")))
            return true;
    }
    return false;
}

int gt_image_paths_parse(const json_t *v, json_t **out, gt_error_t *err)
{
    if (!json_is_array(v))
        return gt_error_invalid(err,
                                "image_paths must be a list of directories on the nodes, such as "
                                "[/srv/images]");
    json_t *res = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *s = str_of(e);
        char buf[4096];
        bool dotdot;
        if (!s || s[0] != '/' || !norm_path(s, true, buf, sizeof(buf), &dotdot) || dotdot) {
            json_decref(res);
            return gt_error_invalid(
                err, "image_paths[%zu] must be an absolute directory without '..'", i);
        }
        json_array_append_new(res, json_string(buf));
    }
    *out = res;
    return 0;
}

bool gt_teams_admit(const json_t *teams, const char *team)
{
    size_t i;
    const json_t *t;
    json_array_foreach(teams, i, t)
    {
        const char *s = json_string_value(t);
        if (s && (!strcmp(s, "*") || (team && !strcmp(s, team))))
            return true;
    }
    return false;
}

/* Unknown keys of o: the message lists the known ones. */
static int check_keys(const json_t *o, const char *what, const char *const *keys,
                      gt_error_t *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i]; i++)
            known |= !strcmp(k, keys[i]);
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

/* "teams": absent = ["*"]; else a non-empty array of team names or "*". */
static int parse_teams(const json_t *o, const char *what, json_t **out, gt_error_t *err)
{
    const json_t *v = json_object_get(o, "teams");
    if (!v) {
        *out = json_pack("[s]", "*");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 1024)
        return gt_error_invalid(
            err, "%s.teams must be a list of team names, or [\"*\"] for every team", what);
    size_t i;
    const json_t *t;
    json_array_foreach(v, i, t)
    {
        const char *s = str_of(t);
        if (!s || (strcmp(s, "*") && !gt_env_name_ok(s)))
            return gt_error_invalid(
                err, "%s.teams[%zu] must be a team name, or \"*\" for every team", what, i);
    }
    *out = json_deep_copy(v);
    return 0;
}

static const char *const volume_kinds[] = {"dataset", "checkpoint", "output", "scratch", "other",
                                           NULL};

int gt_volume_parse(const json_t *v, json_t **out, gt_error_t *err)
{
    static const char *const keys[] = {"name", "path", "teams", "access", "kind", NULL};
    if (!json_is_object(v))
        return gt_error_invalid(err, "a volume must be a mapping such as {name: datasets, path: "
                                     "/mnt/datasets, access: ro}");
    const char *name = str_of(json_object_get(v, "name"));
    if (!gt_env_name_ok(name))
        return gt_error_invalid(err,
                                "a volume's name must be 1 to 63 characters of A-Z, a-z, 0-9, '.', "
                                "'_' and '-'");
    char what[96];
    snprintf(what, sizeof(what), "volume '%s'", name);
    if (check_keys(v, what, keys, err) < 0)
        return -1;
    const char *path = str_of(json_object_get(v, "path"));
    char npath[4096];
    bool dotdot;
    if (!path || path[0] != '/' || !norm_path(path, true, npath, sizeof(npath), &dotdot) ||
        dotdot || !strcmp(npath, "/"))
        return gt_error_invalid(
            err,
            "%s: path must be an absolute directory on the nodes other than / and "
            "without '..' (such as /mnt/datasets)",
            what);
    const char *access = "rw";
    json_t *a = json_object_get(v, "access");
    if (a) {
        access = str_of(a);
        if (!access || (strcmp(access, "ro") && strcmp(access, "rw")))
            return gt_error_invalid(err, "%s: access must be ro (read-only) or rw (read-write)",
                                    what);
    }
    const char *kind = NULL;
    json_t *kv = json_object_get(v, "kind");
    if (kv) {
        kind = str_of(kv);
        bool known = false;
        for (size_t i = 0; kind && volume_kinds[i]; i++)
            known |= !strcmp(kind, volume_kinds[i]);
        if (!known)
            return gt_error_invalid(
                err, "%s: kind must be dataset, checkpoint, output, scratch or other", what);
    }
    json_t *teams;
    if (parse_teams(v, what, &teams, err) < 0)
        return -1;
    *out = json_pack("{s:s,s:s,s:o,s:s}", "name", name, "path", npath, "teams", teams,
                     "access", access);
    if (kind)
        json_object_set_new(*out, "kind", json_string(kind));
    return 0;
}

/* Paths a mount may not cover: the runtime's own. */
static const char *const reserved_paths[] = {"/gantry", "/proc", "/sys", "/dev", NULL};

int gt_mounts_parse(const json_t *v, const char *field, json_t **out, gt_error_t *err)
{
    static const char *const keys[] = {"volume", "sub_path", "path", "read_only", NULL};
    if (!json_is_array(v))
        return gt_error_invalid(
            err, "'%s' must be a list such as [{volume: datasets, path: /data}]", field);
    if (json_array_size(v) > GT_MOUNTS_MAX)
        return gt_error_invalid(err, "'%s' holds %zu mounts; at most %d", field, json_array_size(v),
                                GT_MOUNTS_MAX);
    json_t *res = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach(v, i, m)
    {
        char what[160];
        snprintf(what, sizeof(what), "%s[%zu]", field, i);
        if (!json_is_object(m)) {
            gt_error_invalid(err, "%s must be a mapping such as {volume: datasets, path: /data}",
                             what);
            goto fail;
        }
        if (check_keys(m, what, keys, err) < 0)
            goto fail;
        const char *vol = str_of(json_object_get(m, "volume"));
        if (!gt_env_name_ok(vol)) {
            gt_error_invalid(err, "%s.volume must name a volume (see `gantry volumes`)", what);
            goto fail;
        }
        char sub[4096] = "", path[4096];
        bool dotdot;
        json_t *sv = json_object_get(m, "sub_path");
        if (sv) {
            const char *s = str_of(sv);
            if (!s) {
                gt_error_invalid(
                    err, "%s.sub_path must be a path inside volume '%s' such as \"imagenet\"", what,
                    vol);
                goto fail;
            }
            if (s[0] == '/') {
                gt_error_invalid(
                    err,
                    "%s.sub_path '%s' is absolute: it must be a path inside volume '%s' "
                    "(such as \"imagenet\")",
                    what, s, vol);
                goto fail;
            }
            if (!norm_path(s, false, sub, sizeof(sub), &dotdot) || dotdot) {
                gt_error_invalid(err, "%s.sub_path '%s' leaves volume '%s': '..' is not allowed",
                                 what, s, vol);
                goto fail;
            }
        }
        const char *p = str_of(json_object_get(m, "path"));
        if (!p || p[0] != '/' || !norm_path(p, true, path, sizeof(path), &dotdot) || dotdot ||
            !strcmp(path, "/")) {
            gt_error_invalid(
                err,
                "%s.path must be an absolute path other than / and without '..', where "
                "the job sees volume '%s' (such as /data)",
                what, vol);
            goto fail;
        }
        for (size_t r = 0; reserved_paths[r]; r++) {
            size_t n = strlen(reserved_paths[r]);
            if (!strncmp(path, reserved_paths[r], n) && (path[n] == '/' || !path[n])) {
                gt_error_invalid(err,
                                 "%s.path %s is under %s, which the job's runtime provides; mount "
                                 "volume '%s' elsewhere",
                                 what, path, reserved_paths[r], vol);
                goto fail;
            }
        }
        json_t *ro = json_object_get(m, "read_only");
        if (ro && !json_is_boolean(ro)) {
            gt_error_invalid(err, "%s.read_only must be true or false", what);
            goto fail;
        }
        size_t k;
        json_t *prev;
        json_array_foreach(res, k, prev) if (!strcmp(json_string_value(json_object_get(prev,
                                                                                       "path")),
                                                     path))
        {
            gt_error_invalid(
                err, "'%s': two mounts at %s (volumes '%s' and '%s'); give each its own path",
                field, path, json_string_value(json_object_get(prev, "volume")), vol);
            goto fail;
        }
        json_t *nm = json_pack("{s:s,s:s,s:s}", "volume", vol, "sub_path", sub, "path", path);
        if (ro)
            json_object_set(nm, "read_only", ro);
        json_array_append_new(res, nm);
    }
    *out = res;
    return 0;
fail:
    json_decref(res);
    return -1;
}

int gt_environment_parse(const json_t *v, json_t **out, gt_error_t *err)
{
    static const char *const keys[] = {"name", "image", "env", "mounts", "teams", "description",
                                       NULL};
    if (!json_is_object(v))
        return gt_error_invalid(
            err, "an environment must be a mapping such as {name: pytorch-2.4, image: "
                 "docker://pytorch/pytorch:2.4.0}");
    const char *name = str_of(json_object_get(v, "name"));
    if (!gt_env_name_ok(name))
        return gt_error_invalid(
            err, "an environment's name must be 1 to 63 characters of A-Z, a-z, 0-9, "
                 "'.', '_' and '-'");
    char what[96];
    snprintf(what, sizeof(what), "environment '%s'", name);
    if (check_keys(v, what, keys, err) < 0)
        return -1;
    json_t *res = json_pack("{s:s}", "name", name);
    json_t *iv = json_object_get(v, "image");
    if (iv) {
        gt_error_t e = {0};
        if (gt_image_ref_check(str_of(iv), &e) < 0) {
            gt_error_invalid(err, "%s: %s", what, e.msg);
            goto fail;
        }
        json_object_set(res, "image", iv);
    }
    json_t *ev = json_object_get(v, "env");
    if (ev) {
        const char *k;
        json_t *e;
        if (!json_is_object(ev)) {
            gt_error_invalid(err, "%s: env must be a mapping of names to strings", what);
            goto fail;
        }
        json_object_foreach(ev, k, e) if (!str_of(e) || !*k || strchr(k, '='))
        {
            gt_error_invalid(err, "%s: env '%s' must be a name without '=' with a string value",
                             what, k);
            goto fail;
        }
        json_object_set(res, "env", ev);
    } else {
        json_object_set_new(res, "env", json_object());
    }
    json_t *mounts;
    char field[128];
    snprintf(field, sizeof(field), "environment '%s' mounts", name);
    json_t *mv = json_object_get(v, "mounts");
    if (!mv)
        mounts = json_array();
    else if (gt_mounts_parse(mv, field, &mounts, err) < 0)
        goto fail;
    json_object_set_new(res, "mounts", mounts);
    json_t *teams;
    if (parse_teams(v, what, &teams, err) < 0)
        goto fail;
    json_object_set_new(res, "teams", teams);
    json_t *dv = json_object_get(v, "description");
    if (dv) {
        if (!str_of(dv) || json_string_length(dv) > 500) {
            gt_error_invalid(err, "%s: description must be a string of at most 500 characters",
                             what);
            goto fail;
        }
        json_object_set(res, "description", dv);
    }
    *out = res;
    return 0;
fail:
    json_decref(res);
    return -1;
}
