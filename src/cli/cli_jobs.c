/* cli_jobs.c: gantry show (cancel is in cli_jobctl.c, with the other job control). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_events.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "cli/watch.h"
#include "common/timefmt.h"
typedef struct show_view {
    cli_t *c;
    char path[128];
    char ref[64];
    json_t *job;             /* the last look */
    json_t *events;          /* its events (events.h), NULL when the server could not say */
} show_view_t;

/* The job's times a person reads, in local ISO 8601 (the document keeps epoch seconds). */
static void show_times(json_t *job, FILE *f)
{
    static const char *keys[] = {"submit_time", "start_time", "end_time"};
    static const char *words[] = {"submitted", "started", "ended"};
    char b[48];
    fprintf(f, "#");
    for (int i = 0; i < 3; i++) {
        double t = json_number_value(json_object_get(job, keys[i]));
        if (t > 0)
            fprintf(f, "%s %s %s", i ? ";" : "", words[i], gt_time_local(t, b, sizeof(b)));
    }
    fprintf(f, "\n");
}

static void show_print(void *arg, FILE *f)
{
    show_view_t *v = arg;
    json_t *resp = v->job;
    if (v->c->output == CLI_JSON) {
        cli_print_json(resp);
        return;
    }
    if (v->c->output == CLI_NAME) {
        json_t *one = json_pack("[O]", resp);
        cli_print_job_names(one, f);
        json_decref(one);
        return;
    }
    cli_print_yaml(resp);
    if (v->c->output == CLI_YAML || v->c->output == CLI_SPEC)
        return;
    show_times(resp, f);
    const char *msg = json_string_value(json_object_get(resp, "pending_message"));
    json_t *est = json_object_get(resp, "estimated_start");
    if (msg) {
        fprintf(f, "# waiting: %s", msg);
        if (est) {
            char b[48];
            fprintf(f, "; expected to start at %s",
                    gt_time_local(json_number_value(est), b, sizeof(b)));
        }
        fprintf(f, "\n");
    }
    json_t *pull = json_object_get(resp, "pull");
    if (pull)
        fprintf(f, "# pulling its image: %lld bytes so far\n",
                (long long)json_integer_value(json_object_get(pull, "bytes")));
    const char *why = json_string_value(json_object_get(resp, "end_reason"));
    const char *emsg = json_string_value(json_object_get(resp, "end_message"));
    if (why)
        fprintf(f, "# ended: %s%s%s\n", why, emsg ? ": " : "", emsg ? emsg : "");
    if (v->events) {
        fprintf(f, "\n");
        cli_print_events_table(v->events, (double)time(NULL), f);
    }
}

/* One look at the job; the last one once it ended. */
static int show_look(void *arg, gt_buf_t *key)
{
    show_view_t *v = arg;
    json_decref(v->job);
    v->job = NULL;
    gt_error_t err = {0};
    int st = cli_request(v->c, "GET", v->path, NULL, NULL, &v->job, &err);
    if (st != 200) {
        cli_fail_request("show", st, v->job, &err);
        v->job = NULL;
        return -1;
    }
    json_decref(v->events);
    /* the table alone shows them: -o json|yaml|spec are the job's document as it submits
     * again (gantry events --job ID -o json has them) */
    v->events = v->c->output == CLI_TABLE || v->c->output == CLI_WIDE
                    ? cli_job_events(v->c, v->ref) : NULL;
    json_t *k = json_deep_copy(v->job);
    json_object_del(k, "estimated_start"); /* moves with the clock alone */
    if (v->events)
        json_object_set(k, "events", v->events);
    char *s = json_dumps(k, JSON_SORT_KEYS | JSON_COMPACT);
    gt_buf_append(key, s, strlen(s));
    free(s);
    json_decref(k);
    const char *state = json_string_value(json_object_get(v->job, "state"));
    return state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                     !strcmp(state, "cancelled"));
}

int cmd_show(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "show") < 0)
        return 2;
    bool watch = false, help = false;
    const char *id = NULL;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-w") || !strcmp(argv[i], "--watch"))
            watch = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            help = true;
        else if (!id && argv[i][0] != '-')
            id = argv[i];
        else
            bad++;
    }
    bad += watch && c.output == CLI_SPEC; /* a spec has no state to watch */
    if (help || bad || !id) {
        fprintf(help ? stdout : stderr,
                "usage: gantry show ID [-w] [-o json|yaml|name|spec]\n\nShows everything about a "
                "job, including why it waits and when it should start (times in local time),\n"
                "then its events: each change of its life with its cause, oldest first.\n"
                "  -w, --watch   print it again each time it changes, until the job ends\n"
                "  -o yaml       the whole document (`gantry submit -f` takes it back: the fields\n"
                "                the server sets are ignored, with a note); no events (`gantry\n"
                "                events --job ID -o json` has them)\n"
                "  -o spec       only the fields a submission takes, as YAML: the form to edit and\n"
                "                submit again (gantry show ID -o spec > job.yaml; gantry submit -f "
                "job.yaml)\n");
        return help ? 0 : 2;
    }
    char ref[64];
    if (cli_job_ref("show", id, ref, sizeof(ref)) < 0)
        return 2;
    show_view_t v = {.c = &c};
    snprintf(v.path, sizeof(v.path), "/v1/jobs/%s%s", ref, c.output == CLI_SPEC ? "/spec" : "");
    snprintf(v.ref, sizeof(v.ref), "%s", ref);
    cli_view_t view = {show_look, show_print, &v};
    int rc;
    if (watch) {
        rc = cli_watch(&view);
    } else {
        gt_buf_t key = {0};
        rc = show_look(&v, &key) < 0 ? 1 : 0;
        gt_buf_free(&key);
        if (!rc)
            show_print(&v, stdout);
    }
    json_decref(v.job);
    json_decref(v.events);
    return rc;
}
