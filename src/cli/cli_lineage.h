/* cli_lineage.h: the parts of `gantry artifact` that are lineage.c's on the server
 * (docs/artifacts.md "Jobs" and "Lineage"); cli_artifact.c dispatches to them. argv[0] is the
 * subcommand's name; each returns the exit status as commands do (0 ok, 1 failure, 2 usage). */
#ifndef GANTRY_CLI_LINEAGE_H
#define GANTRY_CLI_LINEAGE_H

#include <jansson.h>

#include "cli/client.h"

/* push --in-place VOLUME:PATH NAME [--kind K] [--team T] [--wait S]: a node hashes the files
 * where they are; polls the request until it answered. */
int cli_artifact_push_in_place(const cli_t *c, int argc, char **argv);
/* verify REF of an in-place version: req is the server's 202 answer (a hash request, not
 * consumed); polls it and prints what changed. 0 when the files match, 1 otherwise. */
int cli_artifact_verify_in_place(const cli_t *c, json_t *req, int argc, char **argv);
/* lineage REF: upstream and downstream as two trees, or the server's JSON with -o json. */
int cli_artifact_lineage(const cli_t *c, int argc, char **argv);

#endif
