/* yaml_json.h: YAML <-> JSON values, both ways through libyaml (the CLI's -o yaml, job and
 * environment files; the agent's CDI specs).
 *
 * One schema both ways, YAML 1.2's core schema (the one Kubernetes' newer readers use): a plain
 * (unquoted) scalar is null (`null`, `Null`, `NULL`, `~`, nothing), a boolean (`true`, `True`,
 * `TRUE`, `false`, ...), an integer (`12`, `-3`, `0o17`, `0x1F`), a real (`2.0`, `1e3`, `.5`) or
 * else a string; a quoted scalar or a block (`|`, `>`) is always a string. So `yes`, `no`,
 * `on`, `off` and `2024-01-01` read as strings here (YAML 1.1 readers, PyYAML and go-yaml v2,
 * read some of them as booleans or dates). One exception from YAML 1.1: a plain integer with a
 * leading 0 is octal (`0660` = 432, as CDI specs write file modes and go-yaml v2 reads them);
 * one with a leading 0 and an 8 or 9 (`089`) is refused (readers disagree on it).
 *
 * The emitter writes every string that any YAML reader, 1.1 or 1.2, could take for something
 * else (`yes`, `~`, `null`, `0123`, `1e3`, `0x10`, `2024-01-01`, ``, ...) quoted, and a real
 * always with a '.' (2.0, 1.5e+20) so that it reads back as a number and a real: its output reads
 * back as the same JSON value through this reader and through YAML 1.1 readers alike. */
#ifndef GANTRY_YAML_JSON_H
#define GANTRY_YAML_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

/* v (any JSON value) as one block-style YAML document: a new NUL-terminated string (free it),
 * UTF-8, no line folding; NULL with err ("internal") if libyaml fails. */
char *gt_yaml_emit(const json_t *v, gt_error_t *err);

/* Whether the string s (of n bytes) may be written as a plain scalar: false when a YAML 1.1
 * or 1.2 reader could resolve it as a null, boolean, number, date or merge key. libyaml's own
 * checks (indicators, spaces, line breaks) come on top. */
bool gt_yaml_plain_safe(const char *s, size_t n);

/* One YAML document (text of len bytes) as a JSON value, new reference. Refused with
 * "line N: ..." in err (code invalid_argument, errno EINVAL) and NULL: bad YAML, an empty
 * stream, a second document, a key that is not a scalar, a key given twice in one mapping
 * (both lines named), an integer beyond 64 bits, .inf/.nan (no JSON number), an unknown tag,
 * nesting deeper than 64, or aliases expanding to more than a million values. Anchors and
 * aliases are resolved (an alias is a copy of its anchor's value). */
json_t *gt_yaml_read(const char *text, size_t len, gt_error_t *err);

#endif
