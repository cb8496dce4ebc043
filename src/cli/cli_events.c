/* cli_events.c: gantry events (the cluster's job events; -w streams them as they happen),
 * gantry audit (the administrators' changes), and the Events table that gantry show ends
 * with. */
#include "cli/cli_events.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/table.h"
#include "common/timefmt.h"

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

json_t *cli_job_events(const cli_t *c, const char *ref)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/jobs/%s/events", ref);
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path, NULL, NULL, &resp, &err);
    json_t *ev = st == 200 ? json_object_get(resp, "events") : NULL;
    if (!json_is_array(ev)) {
        json_decref(resp);
        return NULL;
    }
    json_incref(ev);
    json_decref(resp);
    return ev;
}

void cli_print_events_table(const json_t *events, double now, FILE *f)
{
    if (!json_array_size(events)) {
        fprintf(f, "Events: <none>\n");
        return;
    }
    fprintf(f, "Events:\n");
    static const char *const hdr[] = {"TYPE", "AGE", "MESSAGE"};
    cli_table_t *t = cli_table_new(3, hdr);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        char age[32];
        double at = json_number_value(json_object_get(e, "time"));
        gt_format_duration(at > 0 && now > at ? (int64_t)(now - at) : 0, age, sizeof(age));
        const char *row[] = {str(e, "type"), age, str(e, "message")};
        cli_table_add(t, row);
    }
    /* indented as kubectl describe does: the table through a buffer */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cli_table_print(t, m);
    fclose(m);
    for (char *line = buf, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
            fprintf(f, "  %s\n", line);
            break;
        }
        fprintf(f, "  %.*s\n", (int)(nl - line), line);
    }
    free(buf);
    cli_table_free(t);
}

/* ---- gantry events ---- */

static const char events_usage[] =
    "usage: gantry events [-w] [--job ID] [--since SEQ] [-o table|json]\n";

/* One row of gantry events: JOB TYPE TIME MESSAGE (fixed widths: a stream cannot measure). */
static void event_row(const json_t *e, FILE *f)
{
    char t[48], job[32];
    snprintf(job, sizeof(job), "%lld", (long long)json_integer_value(json_object_get(e, "job")));
    fprintf(f, "%-8s %-11s %-19s %s\n", job, str(e, "type"),
            gt_time_local(json_number_value(json_object_get(e, "time")), t, sizeof(t)),
            str(e, "message"));
}

static void events_header(FILE *f) { fprintf(f, "%-8s %-11s %-19s %s\n", "JOB", "TYPE", "TIME", "MESSAGE"); }

typedef struct watch_out {
    cli_output_t output;
    bool header;
} watch_out_t;

static int watch_line(void *arg, const char *line)
{
    watch_out_t *w = arg;
    if (!*line)
        return 0;
    if (w->output == CLI_JSON) {
        printf("%s\n", line);
    } else {
        json_t *e = json_loads(line, 0, NULL);
        if (!e)
            return 0;
        if (!w->header) {
            events_header(stdout);
            w->header = true;
        }
        event_row(e, stdout);
        json_decref(e);
    }
    fflush(stdout);
    return 0;
}

int cmd_events(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "events") < 0)
        return 2;
    bool watch = false;
    const char *job = NULL, *since = "0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-w") || !strcmp(argv[i], "--watch")) {
            watch = true;
        } else if ((!strcmp(argv[i], "--job") || !strcmp(argv[i], "--since")) && i + 1 < argc) {
            *(!strcmp(argv[i], "--job") ? &job : &since) = argv[i + 1];
            i++;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s\nPrints the job events of the cluster that you may see, oldest first: "
                   "each change of a\njob's life with its cause (submitted, started, preempted, "
                   "requeued, oom,\ntime_limit, cancelled, finished, failed, held, released, "
                   "updated, idle).\n"
                   "  -w, --watch    then go on printing them as they happen (until "
                   "interrupted)\n"
                   "  --job ID       one job's events only\n"
                   "  --since SEQ    only events after sequence number SEQ (-o json shows each "
                   "event's seq)\n"
                   "  -o json        the API's JSON (with -w: one event a line)\n",
                   events_usage);
            return 0;
        } else {
            fprintf(stderr, "gantry events: unexpected argument '%s'\n%s", argv[i],
                    events_usage);
            return 2;
        }
    }
    char *end;
    unsigned long long from = strtoull(since, &end, 10);
    if (*end || since[0] == '-' || !since[0]) {
        fprintf(stderr, "gantry events: --since takes an event's sequence number\n%s",
                events_usage);
        return 2;
    }
    char ref[64] = "";
    if (job && cli_job_ref("events", job, ref, sizeof(ref)) < 0)
        return 2;
    gt_error_t err = {0};
    json_t *resp = NULL;
    if (job && !watch) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/jobs/%s/events", ref);
        int st = cli_request(&c, "GET", path, NULL, NULL, &resp, &err);
        if (st != 200)
            return cli_fail_request("events", st, resp, &err);
    } else if (job) {
        /* a watch of one job: the stream filtered by its id (an array's task by its own id) */
        json_t *one = NULL;
        char path[160];
        snprintf(path, sizeof(path), "/v1/jobs/%s", ref);
        int st = cli_request(&c, "GET", path, NULL, NULL, &one, &err);
        if (st != 200)
            return cli_fail_request("events", st, one, &err);
        snprintf(ref, sizeof(ref), "%lld", (long long)json_integer_value(json_object_get(one, "id")));
        json_decref(one);
    }
    if (watch) {
        char path[200];
        snprintf(path, sizeof(path), "/v1/events?watch=1&since=%llu%s%s", from,
                 job ? "&job=" : "", job ? ref : "");
        watch_out_t w = {.output = c.output};
        int st = cli_stream_lines(&c, path, watch_line, &w, &err);
        if (st != 200) {
            fprintf(stderr, "gantry events: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (!resp) { /* every page of the cluster's events */
        json_t *all = json_array();
        for (;;) {
            char path[160];
            snprintf(path, sizeof(path), "/v1/events?since=%llu&limit=10000", from);
            json_t *page = NULL;
            int st = cli_request(&c, "GET", path, NULL, NULL, &page, &err);
            if (st != 200) {
                json_decref(all);
                return cli_fail_request("events", st, page, &err);
            }
            unsigned long long next =
                (unsigned long long)json_integer_value(json_object_get(page, "next"));
            json_array_extend(all, json_object_get(page, "events"));
            json_decref(page);
            if (next <= from)
                break;
            from = next;
        }
        resp = json_pack("{s:o,s:I}", "events", all, "next", (json_int_t)from);
    }
    json_t *events = json_object_get(resp, "events");
    if (c.output == CLI_JSON) {
        cli_print_json(resp);
    } else if (c.output == CLI_YAML) {
        cli_print_yaml(resp);
    } else {
        events_header(stdout);
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e)
            event_row(e, stdout);
    }
    json_decref(resp);
    return 0;
}

/* ---- gantry audit ---- */

static const char audit_usage[] = "usage: gantry audit [--since SEQ] [-o table|wide|json]\n";

/* A value of the log in a cell: compact JSON, cut to max characters unless wide. */
static char *cell_json(const json_t *v, bool wide)
{
    if (!v || json_is_null(v))
        return xstrdup("-");
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        return xstrdup("?");
    if (!wide && strlen(s) > 60)
        strcpy(s + 57, "...");
    return s;
}

int cmd_audit(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "audit") < 0)
        return 2;
    const char *since = "0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--since") && i + 1 < argc) {
            since = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s\nPrints the audit log (admins only): each administrative change, who "
                   "made it, when,\nand the old and new values (quotas and teams, tokens, "
                   "volumes, environments, users,\nnode control, maintenance windows). Tokens "
                   "appear by id, never their secret.\n"
                   "  --since SEQ    only entries after sequence number SEQ\n"
                   "  -o wide        old and new values in full (the table cuts them at 60 "
                   "characters)\n"
                   "  -o json        the API's JSON\n",
                   audit_usage);
            return 0;
        } else {
            fprintf(stderr, "gantry audit: unexpected argument '%s'\n%s", argv[i], audit_usage);
            return 2;
        }
    }
    char *end;
    unsigned long long from = strtoull(since, &end, 10);
    if (*end || since[0] == '-' || !since[0]) {
        fprintf(stderr, "gantry audit: --since takes an entry's sequence number\n%s",
                audit_usage);
        return 2;
    }
    json_t *all = json_array();
    gt_error_t err = {0};
    for (;;) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/audit?since=%llu&limit=10000", from);
        json_t *page = NULL;
        int st = cli_request(&c, "GET", path, NULL, NULL, &page, &err);
        if (st != 200) {
            json_decref(all);
            return cli_fail_request("audit", st, page, &err);
        }
        unsigned long long next =
            (unsigned long long)json_integer_value(json_object_get(page, "next"));
        json_array_extend(all, json_object_get(page, "audit"));
        json_decref(page);
        if (next <= from)
            break;
        from = next;
    }
    json_t *resp = json_pack("{s:o}", "audit", all);
    if (c.output == CLI_JSON) {
        cli_print_json(resp);
    } else if (c.output == CLI_YAML) {
        cli_print_yaml(resp);
    } else {
        static const char *const hdr[] = {"TIME", "USER", "ACTION", "OBJECT", "OLD", "NEW"};
        cli_table_t *t = cli_table_new(6, hdr);
        size_t i;
        json_t *e;
        bool wide = c.output == CLI_WIDE;
        json_array_foreach(all, i, e)
        {
            char tb[48];
            char *o = cell_json(json_object_get(e, "old"), wide);
            char *n = cell_json(json_object_get(e, "new"), wide);
            const char *row[] = {gt_time_local(json_number_value(json_object_get(e, "time")),
                                               tb, sizeof(tb)),
                                 str(e, "user"), str(e, "action"), str(e, "object"), o, n};
            cli_table_add(t, row);
            free(o);
            free(n);
        }
        cli_table_print(t, stdout);
        cli_table_free(t);
    }
    json_decref(resp);
    return 0;
}
