/* client.h: the CLI's HTTP client of the Gantry API (libcurl), and what every command shares:
 * where the server is and which token to send (flags, then GANTRY_SERVER / GANTRY_TOKEN, then
 * ~/.config/gantry/config lines "server = URL" and "token = TOKEN"), how the server is trusted
 * (--ca-file, GANTRY_CA_FILE, "ca_file = PATH"; else the system store; --allow-plaintext or
 * GANTRY_ALLOW_PLAINTEXT=1 for http:// beyond loopback: common/transport.h), and the output
 * format. */
#ifndef GANTRY_CLIENT_H
#define GANTRY_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

/* -o: table (default), wide, json, yaml; name ("job/ID" a line) and csv where a list has
 * them (queue, history); spec (`gantry show -o spec`: only the fields a submission takes,
 * in YAML). */
typedef enum cli_output {
    CLI_TABLE,
    CLI_WIDE,
    CLI_JSON,
    CLI_YAML,
    CLI_NAME,
    CLI_CSV,
    CLI_SPEC,
} cli_output_t;

typedef struct cli {
    char server[2048];          /* one URL, or several separated by "," (docs/ha.md) */
    char token[256];
    char ca_file[1024];
    bool allow_plaintext;
    cli_output_t output;
} cli_t;

/* Removes --server URL, --token TOKEN, --ca-file PATH, --allow-plaintext and -o/--output FMT
 * from argv (updating *argc) and resolves the defaults. For cmd "submit", --output is left in
 * argv: there it is sbatch's --output FILE (the job's output); -o FMT still works. Returns 0, or -1 with a message on stderr (usage error). */
int cli_init(cli_t *c, int *argc, char **argv, const char *cmd);

/* Sends a request; body may be NULL. On an HTTP answer returns its status and the parsed JSON
 * in *out (new reference, NULL if the body was not JSON); -1 when the server can't be reached,
 * can't be verified, or would be sent the token in clear (message in err). extra_header may be NULL ("Idempotency-Key: ..."). */
int cli_request(const cli_t *c, const char *method, const char *path, const json_t *body,
                const char *extra_header, json_t **out, gt_error_t *err);
/* Streams a GET's body to stdout as it arrives; returns the HTTP status or -1. An answer
 * other than 200 is not printed: its error message (and code) go into err. */
int cli_stream(const cli_t *c, const char *path, gt_error_t *err);

/* Streams a GET's body line by line: fn(arg, line) for each whole line (without its '\n'; a
 * last line without one too) as it arrives; fn returns 0 to go on, -1 to stop (the transfer
 * ends, the call returns 200). Otherwise as cli_stream. */
int cli_stream_lines(const cli_t *c, const char *path, int (*fn)(void *arg, const char *line),
                     void *arg, gt_error_t *err);

/* Sends len bytes of fd, from offset, as a request's body (application/octet-stream; an
 * artifact upload's PATCH), streamed from the file, never read whole; the answer as
 * cli_request's. */
int cli_send_fd(const cli_t *c, const char *method, const char *path, int fd, uint64_t offset,
                uint64_t len, json_t **out, gt_error_t *err);
/* GETs path into fd (a 200's body, as it arrives); returns the HTTP status or -1; an answer
 * other than 200 writes nothing: its error goes into err. */
int cli_download_fd(const cli_t *c, const char *path, int fd, gt_error_t *err);
/* As cli_download_fd, from byte offset of the resource (a Range request, offset > 0): fd is
 * positioned at offset and the rest is appended (206). A server that sends the whole body
 * anyway (200) has it written from the start of fd, truncated. *whole (may be NULL) says
 * which happened. Returns 200 or 206, another status, or -1. */
int cli_download_fd_from(const cli_t *c, const char *path, int fd, uint64_t offset, bool *whole,
                         gt_error_t *err);

/* URL-escapes s for a query string; a new string (free it). */
char *cli_escape(const char *s);
/* o's string member key, or dflt when it is absent or not a string (table cells). */
const char *cli_str(const json_t *o, const char *key, const char *dflt);

/* Prints the API's error object (or a generic line) to stderr, prefixed with gantry CMD. */
void cli_print_error(const char *cmd, int status, json_t *resp);
/* A failed cli_request: prints err (status < 0) or the API's error, drops resp; returns 1 (the
 * command's exit status). */
int cli_fail_request(const char *cmd, int status, json_t *resp, const gt_error_t *err);
/* Prints any JSON value as YAML to stdout (common/yaml_json.h: libyaml's emitter; every value
 * reads back the same through any YAML reader). */
void cli_print_yaml(json_t *v);
void cli_print_json(json_t *v);

/* A --mount argument VOLUME[/SUB]:PATH[:ro|:rw] as a mount object ({volume, sub_path, path,
 * read_only}, the server checks the rest); NULL when it is not of that form. */
json_t *cli_mount_arg(const char *arg);
/* Adds an --env/-e argument NAME=VALUE to obj's "env" object (made where absent); -1 (obj
 * unchanged) when arg is not NAME=VALUE with a non-empty NAME. */
int cli_env_arg(json_t *obj, const char *arg);

/* A job reference from the command line ("42", or "42_3": array 42's task with index 3)
 * written to ref as it goes in a /v1/jobs/REF path. -1 with a message on stderr ("gantry CMD:
 * 'x' is not a job id ...") when s is none. */
int cli_job_ref(const char *cmd, const char *s, char *ref, size_t len);
/* How a person names job (a job object of the API): "42", or "ARRAY_INDEX" ("40_3") for an
 * array's task. Writes buf and returns it. */
const char *cli_job_name(const json_t *job, char *buf, size_t len);
/* Adds Slurm's --dependency list to job: "afterok:12:13,afterany:14_2,afternotok:9" appends
 * {type, job} objects to job's "dependencies" (made where absent), "singleton" sets
 * "singleton": true. -1 with err (job unchanged) on "", another type, '?' lists, a bad id.
 * The one parser of it: gantry update --dependency, gantry submit's and #SBATCH's. */
int cli_dependency_arg(json_t *job, const char *arg, gt_error_t *err);

/* Converts a YAML document (a job spec) to JSON: gt_yaml_read (common/yaml_json.h: YAML 1.2's
 * core schema, duplicate keys refused with their lines); NULL with err on bad YAML. */
json_t *cli_yaml_to_json(const char *text, size_t len, gt_error_t *err);

#endif
