/* joblist.h: what the CLI's job lists share (gantry queue, gantry history; JOBCTL's bulk
 * cancel builds the same filter): the GET /v1/jobs query from the filter flags, the note that
 * a page is a part, -o name, and the cells every list shows the same way. */
#ifndef GANTRY_JOBLIST_H
#define GANTRY_JOBLIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/client.h"

typedef struct cli_jobs_query {
    const char *state;          /* "pending,running", "all", ...; NULL: every state */
    const char *team, *user, *name;
    const char *selector;       /* labels: "k=v,k2!=v2,k3,!k4" */
    double since, until;        /* end_time window (epoch seconds) when has_since/has_until */
    bool has_since, has_until;
    const char *limit;          /* page size (the server's default when NULL) */
    int64_t after;              /* jobs after this id */
} cli_jobs_query_t;

/* GET /v1/jobs with q's filter: 0 and the answer in *resp (new reference), or the command's
 * exit status (1) with the error on stderr and *resp NULL. */
int cli_jobs_get(const cli_t *c, const char *cmd, const cli_jobs_query_t *q, json_t **resp);
/* When resp is one page of more (or after > 0), says so on stderr: "showing N of M jobs" and,
 * when more follow, the command that shows them ("gantry CMD" + again + " --continue ID"). */
void cli_jobs_paging(const char *cmd, const json_t *resp, int64_t after, const char *again);
/* Adds " FLAG VALUE" to again (a command line a shell reads back): VALUE in single quotes
 * when it holds anything but [A-Za-z0-9._/=,:-]. */
void cli_again_arg(gt_buf_t *again, const char *flag, const char *value);
/* -o name: "job/ID" a line (kubectl's form). */
void cli_print_job_names(json_t *jobs, FILE *f);
/* A job's GPUs in total: "2", "0.25". */
const char *cli_job_gpus_cell(json_t *j, char *buf, size_t len);
/* The job's nodes, comma-separated ("-" when none). */
const char *cli_job_nodes_cell(json_t *j, char *buf, size_t len);
/* Its labels as k=v,k2=v2 ("-" when none). */
const char *cli_job_labels_cell(json_t *j, char *buf, size_t len);
/* Parses a --since/--until argument (timefmt.h's forms, local time) for cmd; -1 with a message
 * on stderr. */
int cli_time_arg(const char *cmd, const char *flag, const char *s, double *out);

#endif
