/* jobio.h: the shapes of a job's artifact fields (docs/artifacts.md "Jobs"): `inputs`, the
 * artifact versions it reads, and `outputs`, the artifacts it writes; outputs accept and drop the version, digest and error the server
 * records on them.
 *
 * Shape only, for the API and the CLI alike: which version a reference names, who may read
 * or write an artifact, and where a version lives are the server's (server/lineage.c). Each
 * parser takes a JSON value, checks it strictly and returns 0 with a new normalized array in
 * *out, or -1 (EINVAL) with a message in err (code invalid_argument) that names the field. */
#ifndef GANTRY_JOBIO_H
#define GANTRY_JOBIO_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

#define GT_INPUTS_MAX 16
#define GT_OUTPUTS_MAX 16
#define GT_OUTPUT_ROOT "/gantry/output" /* the job's output directory as the job names it */

/* An artifact's name: 1 to 63 of [A-Za-z0-9._-], beginning with a letter or digit. */
bool gt_artifact_name_ok(const char *s);
/* A reference to a version: NAME (the latest), NAME@N (version N >= 1) or NAME:ALIAS (ALIAS
 * a name as above). */
bool gt_artifact_ref_ok(const char *s);

/* inputs: [{artifact: REF, path: /abs}] (path as a mount's: absolute, not /, no '..', not
 * under /gantry, /proc, /sys or /dev), at most GT_INPUTS_MAX, no two at one path. The server
 * resolves them at submission into {artifact: NAME, version, digest, path, ref: REF as given,
 * location}; such a document is accepted again (version, digest and location dropped, ref the
 * reference), so that a job's own document can be submitted again (its references resolve
 * again). *out: [{artifact: REF, path}] with path normalized. */
int gt_inputs_parse(const json_t *v, json_t **out, gt_error_t *err);

/* outputs: [{artifact: NAME, kind: dataset|model|other (default other), path}] with path
 * GT_OUTPUT_ROOT or beneath it (no '..'), at most GT_OUTPUTS_MAX, no artifact twice, no path
 * twice. *out: [{artifact, kind, path}] with path normalized. */
int gt_outputs_parse(const json_t *v, json_t **out, gt_error_t *err);

/* Whether the job paths of inputs and mounts (arrays as parsed) overlap: the first input
 * whose path is a mount's, or lies inside or above one; its message in err, -1 (EINVAL). */
int gt_inputs_mounts_check(const json_t *inputs, const json_t *mounts, gt_error_t *err);

#endif
