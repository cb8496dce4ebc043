/* runtimes.h: which ways of running a job this node has, found at the agent's start.
 *
 * "process" always; "oci" when an OCI runtime (runc or crun), skopeo and umoci are all usable
 * (docs/agent.md "Images"). Usable means: found on PATH and answering --version; crun also
 * needs a cgroup layout it supports: crun 1.8 refuses a hybrid host (cgroup v1 controllers
 * with a cgroup2 mount at <root>/unified: "cgroups in hybrid mode not supported") unless the
 * OCI runtime code starts it in a mount namespace without that mount (crun_hybrid_ok). */
#ifndef GANTRY_AGENT_RUNTIMES_H
#define GANTRY_AGENT_RUNTIMES_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

typedef enum runtimes_cgroup_mode {
    RUNTIMES_CG_UNKNOWN,
    RUNTIMES_CG_V1,     /* legacy: only v1 hierarchies */
    RUNTIMES_CG_HYBRID, /* v1 hierarchies and a cgroup2 mount at <root>/unified */
    RUNTIMES_CG_V2,     /* unified: <root> is cgroup2 */
} runtimes_cgroup_mode_t;

typedef struct runtimes_opts {
    const char *oci_runtime; /* --oci-runtime: "runc" or "crun"; NULL: runc if usable, else crun */
    const char *cgroup_root; /* NULL: /sys/fs/cgroup, where crun looks whatever the agent's
                                --cgroup-root (tests point it elsewhere) */
    bool crun_hybrid_ok;     /* crun is started where the hybrid layout cannot stop it */
} runtimes_opts_t;

/* One program: whether it answered `PROG --version`, and its version ("" when not). */
typedef struct runtimes_prog {
    bool usable;
    char version[64];
    char why[200]; /* why it is not usable, "" when it is */
} runtimes_prog_t;

typedef struct runtimes {
    runtimes_prog_t runc, crun, skopeo, umoci;
    runtimes_cgroup_mode_t cgroup_mode;
    const char *oci_runtime; /* "runc" or "crun" when oci, else NULL (static string) */
    bool oci;                /* an OCI runtime, skopeo and umoci are all usable */
    char missing[512];       /* when !oci: what is missing, a sentence; else "" */
} runtimes_t;

/* Finds the programs on PATH (each run once, no shell, 5 s at most) and decides. Never fails:
 * what cannot be run is marked unusable with the reason. -1 (EINVAL, err) only for an
 * oci_runtime that is neither runc nor crun. */
int runtimes_detect(const runtimes_opts_t *opts, runtimes_t *out, gt_error_t *err);

/* The layout of cgroup hierarchies at root, as crun 1.8 classifies it (statfs of root and of
 * root/unified). */
runtimes_cgroup_mode_t runtimes_cgroup_mode(const char *root);

/* Adds "runtimes": ["process"] or ["process", "oci"] and, when oci, "oci_runtime" to obj
 * (the register body and `gantry agent --discover`). */
void runtimes_to_json(const runtimes_t *rt, json_t *obj);

/* One line for the agent's start: the runtimes and their versions, or what "oci" lacks.
 * Returns buf. */
const char *runtimes_describe(const runtimes_t *rt, char *buf, size_t len);

#endif
