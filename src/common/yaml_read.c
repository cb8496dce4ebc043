/* yaml_read.c: one YAML document read into a JSON value with libyaml's event parser
 * (yaml_json.h): YAML 1.2's core schema for plain scalars, duplicate keys refused, aliases
 * copied with a bound on what they expand to. */
#include "common/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_VALUES 1000000 /* aliases counted at the size of what they copy */

#define TAG(t) "tag:yaml.org,2002:" t

typedef struct anchor {
    char *name;
    json_t *v;
    size_t weight; /* values in v */
} anchor_t;

typedef struct reader {
    yaml_parser_t p;
    gt_error_t *err;
    anchor_t *anchors;
    size_t nanchors, cap;
    size_t values;
} reader_t;

static int fail(reader_t *r, size_t line, const char *fmt, const char *a, const char *b)
{
    char what[900];
    snprintf(what, sizeof(what), fmt, a, b);
    gt_error_invalid(r->err, "line %zu: %s", line, what);
    return -1;
}

static int next(reader_t *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->p, ev))
        return 0;
    return fail(r, r->p.problem_mark.line + 1, "not valid YAML: %s%s",
                r->p.problem ? r->p.problem : "libyaml failed", "");
}

static bool all(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool core_float(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    size_t d = strspn(p, "0123456789");
    p += d;
    if (*p == '.') {
        size_t f = strspn(p + 1, "0123456789");
        if (!d && !f)
            return false;
        p += 1 + f;
    } else if (!d) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '-' || *p == '+';
        size_t x = strspn(p, "0123456789");
        if (!x)
            return false;
        p += x;
    }
    return !*p;
}

/* A plain scalar under the core schema; NULL with err for a number JSON can't hold. */
static json_t *resolve_plain(reader_t *r, const char *s, size_t line)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    const char *digits = s + (*s == '-' || *s == '+');
    int base = 0;
    const char *from = s;
    if (digits[0] == '0' && digits[1] && all(digits, "01234567"))
        base = 8; /* YAML 1.1's octal, as CDI specs write file modes (sign kept by strtoll) */
    else if (digits[0] == '0' && digits[1] && all(digits, "0123456789")) {
        fail(r, line, "%s reads as octal to some YAML readers and decimal to others: write it "
             "without the leading 0, as 0o..., or quote it to keep it as text%s", s, "");
        return NULL;
    } else if (all(digits, "0123456789"))
        base = 10;
    else if (!strncmp(s, "0o", 2) && all(s + 2, "01234567"))
        base = 8, from = s + 2;
    else if (!strncmp(s, "0x", 2) && all(s + 2, "0123456789abcdefABCDEF"))
        base = 16, from = s + 2;
    if (base) {
        errno = 0;
        char *end;
        long long v = strtoll(from, &end, base);
        if (errno == ERANGE || *end) {
            fail(r, line, "%s is too large for a whole number of 64 bits (quote it to keep it "
                 "as text)%s", s, "");
            return NULL;
        }
        return json_integer(v);
    }
    if (core_float(s)) {
        double d = strtod(s, NULL);
        if (!isfinite(d)) {
            fail(r, line, "%s is too large for a number (quote it to keep it as text)%s", s, "");
            return NULL;
        }
        return json_real(d);
    }
    const char *dot = s + (*s == '-' || *s == '+');
    if (!strcmp(dot, ".inf") || !strcmp(dot, ".Inf") || !strcmp(dot, ".INF") ||
        !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        fail(r, line, "%s is not a number JSON can hold (quote it to keep it as text)%s", s, "");
        return NULL;
    }
    return json_string(s);
}

static json_t *scalar(reader_t *r, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length, line = ev->start_mark.line + 1;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!tag || !strcmp(tag, "!") || !strcmp(tag, TAG("str"))) {
        if (plain && !tag) {
            if (strlen(s) != n) /* a plain scalar holds no NUL; kept for safety */
                return fail(r, line, "a NUL byte in a plain scalar%s%s", "", ""), NULL;
            return resolve_plain(r, s, line);
        }
        json_t *v = json_stringn(s, n);
        if (!v)
            fail(r, line, "a string that is not valid UTF-8%s%s", "", "");
        return v;
    }
    static const char *const typed[] = {TAG("int"), TAG("float"), TAG("bool"), TAG("null"),
                                        NULL};
    static const json_type want[] = {JSON_INTEGER, JSON_REAL, JSON_TRUE, JSON_NULL};
    for (int i = 0; typed[i]; i++) {
        if (strcmp(tag, typed[i]))
            continue;
        json_t *v = resolve_plain(r, s, line);
        if (!v)
            return NULL;
        json_type t = json_typeof(v);
        if (t == JSON_FALSE)
            t = JSON_TRUE;
        if (t == JSON_INTEGER && want[i] == JSON_REAL) {
            json_t *d = json_real((double)json_integer_value(v));
            json_decref(v);
            return d;
        }
        if (t != want[i]) {
            json_decref(v);
            return fail(r, line, "'%s' is not what its tag %s says", s, tag), NULL;
        }
        return v;
    }
    return fail(r, line, "the tag %s is not supported (plain YAML types only)%s", tag, ""),
           NULL;
}

static int remember(reader_t *r, const yaml_char_t *name, json_t *v, size_t weight)
{
    if (!name)
        return 0;
    GT_GROW(r->anchors, r->cap, r->nanchors + 1);
    r->anchors[r->nanchors++] =
        (anchor_t){.name = xstrdup((const char *)name), .v = json_incref(v), .weight = weight};
    return 0;
}

static int count(reader_t *r, size_t n, size_t line)
{
    r->values += n;
    if (r->values <= MAX_VALUES)
        return 0;
    return fail(r, line, "the document holds more than a million values (aliases count at the "
                "size of what they copy)%s%s", "", "");
}

static json_t *node(reader_t *r, yaml_event_t *ev, int depth, size_t *weight);

static json_t *collection(reader_t *r, yaml_event_t *start, int depth, size_t *weight)
{
    bool map = start->type == YAML_MAPPING_START_EVENT;
    size_t line0 = start->start_mark.line + 1;
    const char *tag = (const char *)(map ? start->data.mapping_start.tag
                                         : start->data.sequence_start.tag);
    if (tag && strcmp(tag, "!") && strcmp(tag, map ? TAG("map") : TAG("seq")))
        return fail(r, line0, "the tag %s is not supported (plain YAML types only)%s", tag, ""),
               NULL;
    if (depth >= MAX_DEPTH)
        return fail(r, line0, "nested deeper than %s levels%s", "64", ""), NULL;
    json_t *out = map ? json_object() : json_array();
    json_t *lines = map ? json_object() : NULL; /* key -> the line it was first given at */
    *weight = 1;
    for (;;) {
        yaml_event_t e;
        if (next(r, &e) < 0)
            goto fail;
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&e);
            json_decref(lines);
            return out;
        }
        size_t w = 0;
        if (!map) {
            json_t *v = node(r, &e, depth + 1, &w);
            yaml_event_delete(&e);
            if (!v)
                goto fail;
            json_array_append_new(out, v);
            *weight += w;
            continue;
        }
        size_t kline = e.start_mark.line + 1;
        if (e.type != YAML_SCALAR_EVENT ||
            strlen((const char *)e.data.scalar.value) != e.data.scalar.length) {
            yaml_event_delete(&e);
            fail(r, kline, "a key must be a plain word or a string (not a list, a mapping, an "
                 "alias or a NUL byte)%s%s", "", "");
            goto fail;
        }
        char *key = xstrdup((const char *)e.data.scalar.value);
        yaml_event_delete(&e);
        json_t *first = json_object_get(lines, key);
        if (first) {
            char at[32];
            snprintf(at, sizeof(at), "%lld", (long long)json_integer_value(first));
            fail(r, kline, "the key '%s' is given twice in one mapping (first at line %s)",
                 key, at);
            free(key);
            goto fail;
        }
        json_object_set_new(lines, key, json_integer((json_int_t)kline));
        yaml_event_t ve;
        json_t *v = NULL;
        if (next(r, &ve) == 0) {
            v = node(r, &ve, depth + 1, &w);
            yaml_event_delete(&ve);
        }
        if (!v) {
            free(key);
            goto fail;
        }
        json_object_set_new(out, key, v);
        free(key);
        *weight += w;
    }
fail:
    json_decref(lines);
    json_decref(out);
    return NULL;
}

static json_t *node(reader_t *r, yaml_event_t *ev, int depth, size_t *weight)
{
    size_t line = ev->start_mark.line + 1;
    json_t *v = NULL;
    *weight = 1;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        for (size_t i = r->nanchors; i-- > 0;) /* the latest anchor of that name */
            if (!strcmp(r->anchors[i].name, (const char *)ev->data.alias.anchor)) {
                if (count(r, r->anchors[i].weight, line) < 0)
                    return NULL;
                *weight = r->anchors[i].weight;
                return json_deep_copy(r->anchors[i].v);
            }
        fail(r, line, "the alias *%s names no anchor before it%s",
             (const char *)ev->data.alias.anchor, "");
        return NULL;
    case YAML_SCALAR_EVENT:
        if (count(r, 1, line) < 0 || !(v = scalar(r, ev)))
            return NULL;
        remember(r, ev->data.scalar.anchor, v, 1);
        return v;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (count(r, 1, line) < 0 || !(v = collection(r, ev, depth, weight)))
            return NULL;
        remember(r, ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
                                                         : ev->data.sequence_start.anchor,
                 v, *weight);
        return v;
    default:
        fail(r, line, "unexpected YAML event%s%s", "", "");
        return NULL;
    }
}

json_t *gt_yaml_read(const char *text, size_t len, gt_error_t *err)
{
    reader_t r = {.err = err};
    yaml_parser_initialize(&r.p);
    yaml_parser_set_input_string(&r.p, (const unsigned char *)text, len);
    json_t *out = NULL;
    yaml_event_t e;
    /* STREAM-START, DOCUMENT-START (or STREAM-END: nothing there) */
    while (!out) {
        if (next(&r, &e) < 0)
            goto done;
        yaml_event_type_t t = e.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            gt_error_invalid(err, "the YAML document is empty");
            goto done;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&e);
            continue;
        }
        size_t w;
        out = node(&r, &e, 0, &w);
        yaml_event_delete(&e);
        if (!out)
            goto done;
    }
    /* DOCUMENT-END, then STREAM-END: a second document is refused, not dropped */
    for (;;) {
        if (next(&r, &e) < 0)
            break;
        yaml_event_type_t t = e.type;
        size_t line = e.start_mark.line + 1;
        yaml_event_delete(&e);
        if (t == YAML_STREAM_END_EVENT)
            goto done;
        if (t == YAML_DOCUMENT_START_EVENT) {
            fail(&r, line, "a second YAML document begins here: give one per file%s%s", "", "");
            break;
        }
    }
    json_decref(out);
    out = NULL;
done:
    for (size_t i = 0; i < r.nanchors; i++) {
        free(r.anchors[i].name);
        json_decref(r.anchors[i].v);
    }
    free(r.anchors);
    yaml_parser_delete(&r.p);
    return out;
}
