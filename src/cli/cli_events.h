/* cli_events.h: job events as the CLI prints them (gantry show's Events table; gantry events
 * and gantry audit are in cli_events.c). */
#ifndef GANTRY_CLI_EVENTS_H
#define GANTRY_CLI_EVENTS_H

#include <jansson.h>
#include <stdio.h>

#include "cli/client.h"

/* GET /v1/jobs/REF/events: the job's events (new reference, an array), or NULL when the
 * server could not say (an older server, an error: the caller shows the job without them). */
json_t *cli_job_events(const cli_t *c, const char *ref);
/* "Events:" then a table of TYPE, AGE (before now, epoch seconds) and MESSAGE, indented as
 * kubectl describe prints them; "Events: <none>" when there is none. */
void cli_print_events_table(const json_t *events, double now, FILE *f);

#endif
