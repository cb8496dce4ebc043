/* envspec.h: the shapes of a job's environment (issue 9, docs/environments.md): OCI image
 * references, volumes (configuration volumes: and /v1/volumes), a job's or a stack's mounts,
 * software stacks (environments: and /v1/environments), the network mode.
 *
 * Shape only, for the configuration, the API and a job's submission alike: which team may use
 * which volume or stack, and what a name refers to now, is the server's (server/envs.c).
 * Each parser takes a JSON value, checks it strictly (unknown fields, wrong types, paths that
 * leave where they must stay) and returns 0 with a new normalized object in *out, or -1
 * (EINVAL) with a message in err (code invalid_argument) that names the field. */
#ifndef GANTRY_ENVSPEC_H
#define GANTRY_ENVSPEC_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

#define GT_IMAGE_REF_MAX 1024
#define GT_MOUNTS_MAX 64
#define GT_VOLUMES_MAX 1024

/* An image reference with its transport: docker://REGISTRY/NAME[:TAG|@DIGEST],
 * oci:/ABS/LAYOUT[:TAG], oci-archive:/ABS/FILE.tar, docker-archive:/ABS/FILE.tar; printable,
 * no spaces, at most GT_IMAGE_REF_MAX bytes, no '..' in a path. 0, or -1 (EINVAL) with err. */
int gt_image_ref_check(const char *ref, gt_error_t *err);

/* The node path an image reference reads (oci:/PATH[:TAG], oci-archive:/PATH,
 * docker-archive:/PATH), written into buf without its tag; false for docker:// (a registry)
 * or a reference gt_image_ref_check refuses. */
bool gt_image_local_path(const char *ref, char *buf, size_t len);
/* Whether path is one of prefixes (a JSON array of absolute paths) or beneath one, component
 * by component (/srv/images admits /srv/images/a, not /srv/images2). */
bool gt_path_beneath_any(const char *path, const json_t *prefixes);
/* A list of absolute directories without '..' (the configuration's image_paths:): *out a new
 * array of them normalized. */
int gt_image_paths_parse(const json_t *v, json_t **out, gt_error_t *err);

/* A name of a volume or an environment: 1 to 63 characters of [A-Za-z0-9._-]. */
bool gt_env_name_ok(const char *s);

/* A volume: {name, path (absolute, not "/"), teams: ["*" | TEAM...] (default ["*"]),
 * access: "ro" | "rw" (default "rw"), kind: dataset|checkpoint|output|scratch|other
 * (optional)}. *out: every field present but kind, path without "//", "." or a trailing '/'. */
int gt_volume_parse(const json_t *v, json_t **out, gt_error_t *err);

/* A list of mounts, field being what the message calls it ("mounts", "environments[2].mounts"):
 * [{volume: NAME, sub_path: "a/b" (optional, relative, no ".." component), path: "/abs" (not
 * "/", not under /gantry, /proc, /sys or /dev), read_only: bool (optional)}], at most
 * GT_MOUNTS_MAX, no two at the same path. *out: a new array of normalized mounts (sub_path
 * "" when absent; read_only only where given). */
int gt_mounts_parse(const json_t *v, const char *field, json_t **out, gt_error_t *err);

/* A software stack: {name, image (optional), env: {NAME: "value"} (optional), mounts
 * (optional), teams (default ["*"]), description (optional)}. *out: every field present but
 * image and description. */
int gt_environment_parse(const json_t *v, json_t **out, gt_error_t *err);

/* Whether a volume's or a stack's "teams" admits team ("*" admits every team). */
bool gt_teams_admit(const json_t *teams, const char *team);

/* A path's components without "" and "." joined into out ("/a/b" when absolute, "a/b" when
 * not, "/" or "" when none); *dotdot when one is "..". false when it does not fit in len. */
bool gt_path_norm(const char *in, bool absolute, char *out, size_t len, bool *dotdot);

/* Whether s is a network mode a job may ask for: "host" or "none". */
bool gt_network_ok(const char *s);

#endif
