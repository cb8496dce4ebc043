/* yaml_emit.c: JSON values written as YAML with libyaml's emitter (yaml_json.h). libyaml picks
 * the quoting a string needs for its characters (indicators, leading spaces, tabs, line
 * breaks); what it cannot know is which plain words a reader resolves to other types, so
 * gt_yaml_plain_safe() says that and the string is then quoted. */
#include "common/yaml_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Words that YAML 1.1 (PyYAML, go-yaml v2) or 1.2 resolve as booleans or nulls, in any case:
 * quoting more spellings than a reader knows costs nothing. */
static const char *const typed_words[] = {"y",   "n",     "yes", "no",   "true", "false",
                                          "on",  "off",   "null", "~",   "=",    "<<",
                                          ".inf", "-.inf", "+.inf", ".nan", NULL};

bool gt_yaml_plain_safe(const char *s, size_t n)
{
    if (n == 0 || strlen(s) != n) /* empty is null; a NUL byte needs an escape */
        return false;
    for (int i = 0; typed_words[i]; i++)
        if (!strcasecmp(s, typed_words[i]))
            return false;
    /* numbers, dates, times, sexagesimals (1.1's 1:30), 0x/0o/0b: all begin with a digit, or a
     * sign or '.' then a digit */
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '.')
        p++;
    return !(*p >= '0' && *p <= '9');
}

typedef struct emit {
    yaml_emitter_t em;
    gt_error_t *err;
    bool failed;
} emit_t;

static int write_out(void *arg, unsigned char *buf, size_t n)
{
    gt_buf_append(arg, (const char *)buf, n);
    return 1;
}

static void send(emit_t *e, yaml_event_t *ev)
{
    if (e->failed) { /* the emitter frees the events it takes; this one it did not */
        yaml_event_delete(ev);
        return;
    }
    if (!yaml_emitter_emit(&e->em, ev)) {
        e->failed = true;
        gt_error_set(e->err, "internal", "cannot write YAML: %s",
                     e->em.problem ? e->em.problem : "libyaml failed");
    }
}

static void scalar(emit_t *e, const char *s, size_t n, bool is_string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    bool lines = is_string && memchr(s, '\n', n);
    bool plain = !is_string || (!lines && gt_yaml_plain_safe(s, n));
    /* lines as a literal block (a script reads as written); libyaml falls back to double
     * quotes where a block or single quotes can't hold the string (tabs, control bytes) */
    if (!plain)
        style = lines ? YAML_LITERAL_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, plain, 1, style);
    send(e, &ev);
}

/* The shortest decimal that reads back as d, always with a '.' before any exponent: a YAML 1.1
 * reader (PyYAML) takes 1e+20 for a string, and 2 for an integer. */
static void real_text(double d, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (strchr(buf, '.'))
        return;
    char *exp = strchr(buf, 'e');
    char tail[32] = "";
    if (exp) {
        snprintf(tail, sizeof(tail), "%s", exp);
        *exp = 0;
    }
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, ".0%s", tail);
}

static void value(emit_t *e, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        send(e, &ev);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            scalar(e, k, strlen(k), true);
            value(e, x);
        }
        yaml_mapping_end_event_initialize(&ev);
        send(e, &ev);
        return;
    }
    case JSON_ARRAY: {
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        send(e, &ev);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) value(e, x);
        yaml_sequence_end_event_initialize(&ev);
        send(e, &ev);
        return;
    }
    case JSON_STRING:
        scalar(e, json_string_value(v), json_string_length(v), true);
        return;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        real_text(json_real_value(v), num, sizeof(num));
        break;
    case JSON_TRUE: snprintf(num, sizeof(num), "true"); break;
    case JSON_FALSE: snprintf(num, sizeof(num), "false"); break;
    case JSON_NULL: snprintf(num, sizeof(num), "null"); break;
    }
    scalar(e, num, strlen(num), false);
}

char *gt_yaml_emit(const json_t *v, gt_error_t *err)
{
    emit_t e = {.err = err};
    gt_buf_t out = {0};
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e.em)) {
        gt_error_set(err, "internal", "cannot start libyaml's emitter");
        return NULL;
    }
    yaml_emitter_set_output(&e.em, write_out, &out);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, -1);
    yaml_emitter_set_indent(&e.em, 2);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    send(&e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    send(&e, &ev);
    value(&e, v);
    yaml_document_end_event_initialize(&ev, 1);
    send(&e, &ev);
    yaml_stream_end_event_initialize(&ev);
    send(&e, &ev);
    if (!e.failed && !yaml_emitter_flush(&e.em)) {
        e.failed = true;
        gt_error_set(err, "internal", "cannot write YAML: libyaml's flush failed");
    }
    yaml_emitter_delete(&e.em);
    if (e.failed) {
        gt_buf_free(&out);
        errno = EIO;
        return NULL;
    }
    return out.data ? out.data : xstrdup(""); /* gt_buf keeps a NUL after its bytes */
}
