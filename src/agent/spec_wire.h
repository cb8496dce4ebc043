/* spec_wire.h: a supervisor spec (supervisor.h) as JSON, for the agent's requests to the
 * launcher (launcher.h). Every field travels; pointers become values. */
#ifndef GANTRY_AGENT_SPEC_WIRE_H
#define GANTRY_AGENT_SPEC_WIRE_H

#include <jansson.h>

#include "agent/supervisor.h"

/* A new JSON object holding all of s (decref it). */
json_t *spec_wire_encode(const supervisor_spec_t *s);

/* A spec read back: its strings point into the JSON object it came from, so keep that alive
 * while the spec is used; free the rest with spec_wire_free. */
typedef struct spec_wire {
    supervisor_spec_t s;
    supervisor_gang_t gang;
    cgroup_cfg_t cgroup;
    char **argv, **env;
    int *gpus;
    supervisor_mount_t *mounts;
} spec_wire_t;

/* Fills *out from o. -1 with EINVAL if o is not an object with a job id and a command (or an
 * image, whose Entrypoint and Cmd then run). */
int spec_wire_decode(const json_t *o, spec_wire_t *out);
void spec_wire_free(spec_wire_t *w);

#endif
